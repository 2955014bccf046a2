"""What every converter returns: :class:`~ngffstore.source.Source`, the store's input type.

A converter knows file formats, not Zarr: it opens its input lazily (a dask array whose chunks
read from the file on demand, or a numpy array for a small input) and describes it with a
:class:`Source`. The ngffstore writers turn a Source into an OME-Zarr node. The type itself is
defined by the store (``ngffstore.source``); it is re-exported here.
"""

from ngffstore.source import Attachment, Source

__all__ = ["Attachment", "Source"]
