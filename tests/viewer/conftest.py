"""Fixtures of the browser viewer tests: the demo collection with the viewer written into it,
served by the static HTTP host, and headless Chromium (the Debian package) driven by Playwright.

Without ``/usr/bin/chromium`` (or ``chromium`` on the PATH) the browser tests skip, naming the
package to install; Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SKIP_REASON = "no Chromium for the browser tests: install the Debian package chromium (apt-get install chromium)"

#: Extra images beside the demo's: Zarr v2 with blosc, Zarr v3 sharded with gzip (z planes, no c).
EXTRA = {
    "extra/v2-blosc.ome.zarr": {"axes": "cyx", "ngff_version": "0.4", "compression": "blosc-lz4", "chunks": 128},
    "extra/sharded-gzip.ome.zarr": {"axes": "zyx", "compression": "gzip", "chunks": 64, "shards": 256},
}


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _blobs(shape: tuple[int, ...], seed: int, dtype: Any) -> np.ndarray:
    """Smooth bright discs on a background that is never 0 (so no chunk is left unwritten)."""
    rng = np.random.default_rng(seed)
    *lead, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty(shape, dtype=np.float64)
    for index in np.ndindex(*lead):
        plane = np.full((h, w), 20.0)
        for _ in range(25):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(6, 30)
            plane += rng.uniform(50, 200) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        out[index] = plane
    top = np.iinfo(dtype).max
    return np.clip(out / out.max() * top * 0.9 + 1, 1, top).astype(dtype)


@pytest.fixture(scope="session")
def viewer_site(demo_collection: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A copy of the demo collection plus the extra images, indexed, with the viewer written in."""
    import ngffstore
    from ngffstore.index import build_index
    from ngffstore.viewer import write_viewer

    root = tmp_path_factory.mktemp("viewer") / "site"
    shutil.copytree(demo_collection.root, root)
    write_image = ngffstore.write_image
    write_image(_blobs((3, 300, 400), 1, np.uint16), str(root / "extra/v2-blosc.ome.zarr"),
                channels=["A", "B", "C"], progress=False, min_size=64, **EXTRA["extra/v2-blosc.ome.zarr"])
    write_image(_blobs((3, 320, 288), 2, np.uint8), str(root / "extra/sharded-gzip.ome.zarr"),
                progress=False, min_size=64, **EXTRA["extra/sharded-gzip.ome.zarr"])
    build_index(str(root), rebuild=True)
    report = write_viewer(str(root))
    return {"root": str(root), "report": report}


@pytest.fixture(scope="session")
def site_server(viewer_site: Any) -> Iterator[Any]:
    try:
        from httpserver import StaticHTTPServer
    except ImportError:  # tests/ turned into a package
        from tests.httpserver import StaticHTTPServer  # type: ignore[no-redef]

    server = StaticHTTPServer(viewer_site["root"]).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip(SKIP_REASON)
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any, width: int, height: int):
        self.context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    pages: list[Page] = []

    def open_(width: int = 1200, height: int = 900) -> Page:
        page = Page(browser, width, height)
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()
