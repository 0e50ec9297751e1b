"""The exceptions and warnings svccakit raises.

Every error the library raises on purpose is an :class:`SvccakitError`; each also
derives from the built-in exception a caller would expect (``ValueError`` for a bad
value or file, ``OSError`` for a file that cannot be written), so
``except ValueError`` keeps working. The command line reports these in one line and
keeps the traceback for anything else.
"""

from __future__ import annotations

__all__ = [
    "NoCriticalPointError",
    "RunFileError",
    "SmallSampleWarning",
    "SvccakitError",
]


class SvccakitError(Exception):
    """Base class of the errors svccakit raises on purpose."""


class RunFileError(SvccakitError, ValueError):
    """A file that is not a readable svccakit run file (wrong layout or version,
    corrupt, truncated, or not HDF5)."""


class NoCriticalPointError(SvccakitError, ValueError):
    """Raised when an activation/noise pair has no critical initialisation."""


class SmallSampleWarning(UserWarning):
    """Too few samples for the dimensions compared: some correlations are 1 by construction.

    Centred data of ``n`` samples live in an ``n - 1`` dimensional space, so two
    subspaces of dimensions ``k_x + k_y > n - 1`` share at least
    ``k_x + k_y - (n - 1)`` directions. With fewer samples than features CCA is
    trivially 1.
    """
