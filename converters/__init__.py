"""Input formats -> lazy arrays + metadata (:class:`Source`), for the ngffstore writers.

Converters only read their inputs; they never write OME-Zarr. ``Source`` and ``Attachment`` are
the store's types (``ngffstore.source``), re-exported here. The command line reaches this
package as a plug-in (entry point group ``ngffstore.converters``: :mod:`converters.api`).
"""

from ._open import SUPPORTED_SUFFIXES, open_source
from .base import Attachment, Source

__all__ = ["SUPPORTED_SUFFIXES", "Attachment", "Source", "open_source"]
