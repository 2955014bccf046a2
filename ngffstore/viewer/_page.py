"""The ``index.html`` of the viewer: the page shell, its configuration and the bundle's names."""

from __future__ import annotations

import html
import json
from typing import Any

SCRIPT = "ngffstore-viewer.js"
STYLESHEET = "ngffstore-viewer.css"
PAGE = "index.html"

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ngffstore {version}">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{stylesheet}">
<script id="ngffstore-viewer-config" type="application/json">{config}</script>
</head>
<body>
<main id="app"><p>Loading {title}…</p></main>
<noscript>This viewer of an OME-Zarr collection needs JavaScript.</noscript>
<script src="{script}"></script>
</body>
</html>
"""


def render_page(config: dict[str, Any], *, title: str, version: str, asset_prefix: str = "") -> str:
    """The page: ``config`` (data URL, index file, title) is embedded as JSON for the script."""
    # "</" cannot end the script element early
    embedded = json.dumps(config, sort_keys=True).replace("</", "<\\/")
    return _TEMPLATE.format(
        version=html.escape(version),
        title=html.escape(title),
        config=embedded,
        script=html.escape(asset_prefix + SCRIPT),
        stylesheet=html.escape(asset_prefix + STYLESHEET),
    )
