"""The installed version of svccakit (``svccakit.__version__``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("svccakit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
