"""svccakit: watch neural-network representations during training.

The whole public API is listed in ``__all__`` below; everything else is private.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("svccakit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

# --- similarity (SVCCA engine) -----------------------------------------------
# --- end similarity ------------------------------------------------------------

# --- meanfield / nets / init ---------------------------------------------------
# --- end meanfield -------------------------------------------------------------

# --- record / store ------------------------------------------------------------
# --- end record ----------------------------------------------------------------

# --- experiment (tasks, timeline, pipeline) -----------------------------------
# --- end experiment -----------------------------------------------------------
