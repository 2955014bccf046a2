"""Input formats -> lazy dask arrays + metadata (:class:`Source`), for the ngffstore writers.

Converters only read their inputs; they never write OME-Zarr.
"""

from ._open import SUPPORTED_SUFFIXES, open_source
from .base import Source

__all__ = ["SUPPORTED_SUFFIXES", "Source", "open_source"]
