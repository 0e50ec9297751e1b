"""The output directory of an experiment: what it holds, and which of it svccakit wrote.

:func:`svccakit.run_experiment`, :func:`svccakit.run_depth` and ``svccakit dynamics``
each write a fixed set of files into one directory. They share one rule:

- without ``overwrite``, a directory that already holds any of their outputs is refused;
- with ``overwrite``, svccakit replaces or deletes only files it wrote itself: every
  writer keeps a manifest, :data:`MANIFEST`, in the directory, listing each file it
  wrote with its size and modification time. A file that is not listed, or changed
  since (same name, other size or time), is never replaced or deleted: a writer that
  would write one refuses before any work, naming it. Files of an earlier run that the
  new run does not write again (a figure of a metric no longer computed) are deleted
  at the end of a successful run, if they are listed and unchanged;
- nothing is written through a symbolic link: an output name that is a link (to a
  folder or a file anywhere) is refused, with or without ``overwrite``.

Use :func:`open_out_dir` as a context manager around the writing; it records what was
written even when the run fails half-way, so the next ``overwrite`` may replace it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from svccakit.exceptions import OutputDirError

__all__ = ["MANIFEST", "OutputDir", "existing_outputs", "open_out_dir", "prepare_out_dir"]

MANIFEST = ".svccakit-manifest.json"
"""The name of the manifest file svccakit keeps in each output directory."""

_FORMAT = "svccakit-outputs"
_VERSION = 1
_MAX_LISTED = 5


def existing_outputs(out_dir: str | os.PathLike, outputs: Sequence[str]) -> list[Path]:
    """The entries of ``outputs`` (file or folder names) already present in ``out_dir``
    (symbolic links count, even dangling ones).

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
    return [out_dir / name for name in outputs if os.path.lexists(out_dir / name)]


def _listing(paths: Iterable[str]) -> str:
    paths = list(paths)
    more = f" and {len(paths) - _MAX_LISTED} more" if len(paths) > _MAX_LISTED else ""
    return ", ".join(paths[:_MAX_LISTED]) + more


def _check_dir(out_dir, outputs: Sequence[str], *, overwrite: bool, what: str) -> Path:
    """The checks every writer makes before anything else: a path, a directory (or
    nothing yet), no outputs unless ``overwrite``, no output name that is a link."""
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a path, got {type(out_dir).__name__}")
    out_dir = Path(out_dir)
    if os.path.lexists(out_dir) and not out_dir.is_dir():
        raise OutputDirError(f"out_dir {str(out_dir)!r} exists and is not a directory")
    present = existing_outputs(out_dir, outputs)
    if present and not overwrite:
        names = ", ".join(p.name for p in present)
        raise OutputDirError(
            f"out_dir {str(out_dir)!r} already holds {what} outputs ({names}); "
            f"choose another directory or pass overwrite=True (--overwrite) to replace them"
        )
    links = [p.name for p in present if p.is_symlink()]
    if links:
        raise OutputDirError(
            f"out_dir {str(out_dir)!r}: {', '.join(links)} "
            f"{'is a symbolic link' if len(links) == 1 else 'are symbolic links'}; svccakit "
            "never writes (or deletes) through a link, which may lead out of the output "
            "directory; remove the link or choose another directory"
        )
    return out_dir


def prepare_out_dir(
    out_dir: str | os.PathLike, outputs: Sequence[str], *, overwrite: bool, what: str,
) -> Path:
    """Check that ``out_dir`` may receive ``outputs`` and create it (no manifest).

    The checks of :func:`open_out_dir` on the directory and the output names only; a
    writer that replaces files should use :func:`open_out_dir`.

    Raises
    ------
    TypeError
        If ``out_dir`` is not a path.
    OutputDirError
        (a FileExistsError) If ``out_dir`` is a file, holds some of ``outputs`` and
        ``overwrite`` is False, or one of ``outputs`` in it is a symbolic link.
    """
    out_dir = _check_dir(out_dir, outputs, overwrite=overwrite, what=what)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _read_manifest(out_dir: Path) -> tuple[dict[str, dict], set[str]]:
    """(files, pending) of the manifest in ``out_dir``; empty when there is none or it
    cannot be trusted (not a regular file, not JSON of the expected form)."""
    path = out_dir / MANIFEST
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 << 20:
            return {}, set()
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, set()
    if not (isinstance(data, dict) and data.get("format") == _FORMAT):
        return {}, set()
    files, pending = data.get("files"), data.get("pending", [])
    if not isinstance(files, dict) or not isinstance(pending, list):
        return {}, set()
    good = {rel: entry for rel, entry in files.items()
            if _safe_rel(rel) and isinstance(entry, dict)
            and isinstance(entry.get("size"), int) and isinstance(entry.get("mtime_ns"), int)}
    return good, {rel for rel in pending if _safe_rel(rel)}


def _safe_rel(rel) -> bool:
    """A relative POSIX path inside the directory: no '..', not absolute, not empty."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        return False
    parts = PurePosixPath(rel).parts
    return not PurePosixPath(rel).is_absolute() and ".." not in parts and "." not in parts


def _stat_entry(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


class OutputDir:
    """An output directory being written (made by :func:`open_out_dir`).

    Attributes
    ----------
    path : pathlib.Path
        The directory.
    targets : tuple of str
        The files (relative POSIX paths) the writer may write.
    """

    def __init__(self, path: Path, what: str, outputs: Sequence[str], targets: Sequence[str],
                 files: dict[str, dict]):
        self.path = path
        self.what = what
        self._outputs = tuple(outputs)
        self.targets = tuple(dict.fromkeys(targets))
        self._previous = files  # what the manifest listed as ours, still unchanged

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __truediv__(self, other) -> Path:
        return self.path / other

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(success=exc_type is None)

    def _lstat(self, rel: str) -> os.stat_result | None:
        """The file at ``rel``, if it is a regular file reached without any link."""
        path = self.path
        for part in PurePosixPath(rel).parts[:-1]:
            path = path / part
            if path.is_symlink():
                return None
        try:
            st = os.lstat(self.path / rel)
        except OSError:
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def close(self, *, success: bool) -> None:
        """Record what was written. After a success, delete the files of an earlier run
        that this one did not write again (only listed, unchanged files under the
        writer's output names); after a failure, keep listing them."""
        files: dict[str, dict] = {}
        for rel in self.targets:
            st = self._lstat(rel)
            if st is not None:
                files[rel] = _stat_entry(st)
        stale = {rel: entry for rel, entry in self._previous.items() if rel not in files}
        if success:
            for rel, entry in stale.items():
                st = self._lstat(rel)
                if (st is not None and _stat_entry(st) == entry
                        and PurePosixPath(rel).parts[0] in self._outputs):
                    with contextlib.suppress(OSError):
                        os.unlink(self.path / rel)
        else:
            files = {**{rel: e for rel, e in stale.items() if self._lstat(rel) is not None},
                     **files}
        _write_manifest(self.path, self.what, files, pending=())


def _write_manifest(out_dir: Path, what: str, files: dict[str, dict], pending) -> None:
    data = {"format": _FORMAT, "version": _VERSION, "writer": what,
            "files": dict(sorted(files.items())), "pending": sorted(pending)}
    path = out_dir / MANIFEST
    if path.is_symlink() or (os.path.lexists(path) and not path.is_file()):
        raise OutputDirError(f"out_dir {str(out_dir)!r}: {MANIFEST} is not a regular file; "
                             "svccakit keeps its list of written files there")
    tmp = out_dir / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def open_out_dir(
    out_dir: str | os.PathLike,
    outputs: Sequence[str],
    targets: Sequence[str],
    *,
    overwrite: bool,
    what: str,
) -> OutputDir:
    """Check ``out_dir`` before any work, create it, and record what gets written.

    Parameters
    ----------
    out_dir : path-like
    outputs : sequence of str
        The top-level names (files or folders) the writer owns in ``out_dir``.
    targets : sequence of str
        Every file the writer may write, as a relative POSIX path under one of
        ``outputs`` (``"runs/reference.h5"``); a superset is fine.
    overwrite : bool
        Whether svccakit's own earlier outputs may be replaced.
    what : str
        The writer's name in messages ("experiment", "depth", "dynamics").

    Returns
    -------
    OutputDir
        Use it as a context manager around the writing.

    Raises
    ------
    TypeError
        If ``out_dir`` is not a path.
    OutputDirError
        (a FileExistsError) If ``out_dir`` is a file; holds outputs and ``overwrite``
        is False; one of ``outputs`` or ``targets`` in it is a symbolic link or not a
        regular file; or a target exists that svccakit did not write (or that changed
        since it did).
    """
    out_dir = _check_dir(out_dir, outputs, overwrite=overwrite, what=what)
    for rel in targets:
        if not _safe_rel(rel) or PurePosixPath(rel).parts[0] not in outputs:
            raise ValueError(f"targets: {rel!r} is not a relative path under {list(outputs)}")
    files, pending = _read_manifest(out_dir) if out_dir.is_dir() else ({}, set())
    probe = OutputDir(out_dir, what, outputs, targets, {})
    foreign, links = [], []
    for rel in targets:
        path = out_dir / rel
        if not os.path.lexists(path):
            continue
        st = probe._lstat(rel)
        if st is None:
            links.append(rel)
        elif not (rel in pending or files.get(rel) == _stat_entry(st)):
            foreign.append(rel)
    if links:
        raise OutputDirError(
            f"out_dir {str(out_dir)!r}: {_listing(links)} where svccakit would write a file "
            "is a symbolic link, a folder or a special file; svccakit never writes through "
            "a link nor replaces what is not a file it wrote; move it or choose another "
            "directory"
        )
    if foreign:
        raise OutputDirError(
            f"out_dir {str(out_dir)!r} holds files that svccakit did not write (or that "
            f"changed since it wrote them) where it would write: {_listing(foreign)}; "
            f"--overwrite replaces only files listed unchanged in {MANIFEST}; move or "
            "delete them, or choose another directory"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    # ours: unchanged listed files; a failed or killed run's pending files stay ours
    ours = {rel: e for rel, e in files.items() if probe._lstat(rel) is not None
            and _stat_entry(probe._lstat(rel)) == e}
    for rel in pending:
        st = probe._lstat(rel)
        if st is not None and rel not in ours:
            ours[rel] = _stat_entry(st)
    _write_manifest(out_dir, what, ours, pending=targets)
    return OutputDir(out_dir, what, outputs, targets, ours)
