"""The exceptions and warnings svccakit raises.

Every error the library raises on purpose is an :class:`SvccakitError`; each also
derives from the built-in exception a caller would expect (``ValueError`` for a bad
value or file, ``OSError`` for a file that cannot be written), so
``except ValueError`` keeps working. The command line reports these in one line and
keeps the traceback for anything else.
"""

from __future__ import annotations

__all__ = [
    "MissingDependencyError",
    "NoCriticalPointError",
    "OutputDirError",
    "RunFileError",
    "RunFileInUseError",
    "SchedulerError",
    "SizeLimitError",
    "SmallSampleWarning",
    "SvccakitError",
    "TrainingDivergedError",
]


class SvccakitError(Exception):
    """Base class of the errors svccakit raises on purpose."""


class RunFileError(SvccakitError, ValueError):
    """A file that is not a readable svccakit run file (wrong layout or version,
    corrupt, truncated, crafted, or not HDF5)."""


class RunFileInUseError(SvccakitError, FileExistsError):
    """A run file that another recorder is still writing: ``overwrite=True`` replaces
    only a finished file (or one whose writer is known to be dead)."""


class OutputDirError(SvccakitError, FileExistsError):
    """An output directory that cannot receive an experiment's outputs: it holds
    outputs and ``overwrite`` is False, holds a file svccakit did not write where it
    would write one, or holds a symbolic link where it would write."""


class NoCriticalPointError(SvccakitError, ValueError):
    """Raised when an activation/noise pair has no critical initialisation."""


class SizeLimitError(SvccakitError, ValueError):
    """A configuration whose implied memory, disk or compute is beyond svccakit's
    limits; the message says how much the request implies."""


class TrainingDivergedError(SvccakitError, FloatingPointError):
    """Training produced a non-finite loss (usually a learning rate far too large)."""


class SchedulerError(SvccakitError, ValueError):
    """No Dask scheduler answered at the address given."""


class MissingDependencyError(SvccakitError, ImportError):
    """An optional dependency that the request needs is not installed; the message
    says what to install."""


class SmallSampleWarning(UserWarning):
    """Too few samples for the dimensions compared: some correlations are 1 by construction.

    Centred data of ``n`` samples live in an ``n - 1`` dimensional space, so two
    subspaces of dimensions ``k_x + k_y > n - 1`` share at least
    ``k_x + k_y - (n - 1)`` directions. With fewer samples than features CCA is
    trivially 1.
    """
