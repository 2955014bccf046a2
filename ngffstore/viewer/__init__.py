"""The static browser viewer published with a collection (``ngffstore view``).

:func:`write_viewer` writes ``index.html``, one bundled script and one stylesheet into a
collection (or another folder): a catalogue from the collection index, image pages (deep zoom
over the pyramid, channels, label overlays, ROI layers) and plate pages, all read by the browser
straight from the store, with no server of its own.

The script is built from ``js/`` (zarrita, numcodecs.js, fzstd, hyparquet, OpenLayers; ``npm ci
&& npm run build``) into ``static/``, which is package data: installing ngffstore needs no Node.
"""

from __future__ import annotations

from ._codecs import V2_CODECS, V3_CODECS, unsupported_codecs
from ._write import UnviewableStoreError, ViewerReport, write_viewer

__all__ = [
    "V2_CODECS",
    "V3_CODECS",
    "UnviewableStoreError",
    "ViewerReport",
    "unsupported_codecs",
    "write_viewer",
]
