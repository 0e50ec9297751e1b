"""The output directory of an experiment: what it already holds, and making it ready.

:func:`svccakit.run_experiment` and :func:`svccakit.run_depth` each write a fixed set of
files and folders into one directory; they refuse to overwrite them unless asked to.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["existing_outputs", "prepare_out_dir"]


def existing_outputs(out_dir: str | os.PathLike, outputs: Sequence[str]) -> list[Path]:
    """The entries of ``outputs`` (file or folder names) already present in ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
    outputs : sequence of str

    Returns
    -------
    list of pathlib.Path
        In the order of ``outputs``.
    """
    out_dir = Path(out_dir)
    return [out_dir / name for name in outputs if (out_dir / name).exists()]


def prepare_out_dir(
    out_dir: str | os.PathLike, outputs: Sequence[str], *, overwrite: bool, what: str,
) -> Path:
    """Check that ``out_dir`` may receive ``outputs`` and create it.

    Parameters
    ----------
    out_dir : path-like
    outputs : sequence of str
        The names the experiment writes inside ``out_dir``.
    overwrite : bool
        Whether existing outputs may be replaced.
    what : str
        The experiment's name in messages ("experiment", "depth").

    Returns
    -------
    pathlib.Path
        ``out_dir``, which now exists.

    Raises
    ------
    TypeError
        If ``out_dir`` is not a path.
    FileExistsError
        If ``out_dir`` is a file, or holds some of ``outputs`` and ``overwrite`` is False.
    """
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a path, got {type(out_dir).__name__}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"out_dir {str(out_dir)!r} exists and is not a directory")
    present = existing_outputs(out_dir, outputs)
    if present and not overwrite:
        names = ", ".join(p.name for p in present)
        raise FileExistsError(
            f"out_dir {str(out_dir)!r} already holds {what} outputs ({names}); "
            f"choose another directory or pass overwrite=True (--overwrite) to replace them"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir
