"""The static viewer in a real browser: headless Chromium reads the demo collection (plus a Zarr v2
blosc image and a sharded gzip image) from the static HTTP host, as a published bucket serves it.

Pixels are compared with ngffstore's own PNG rendering (``ngffstore window``) of the same region,
label overlays with the label image's colours, and requests are counted at the host.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import zarr
from PIL import Image as PILImage

from ngffstore.cli import main

pytestmark = pytest.mark.timeout(300)


def goto(page, server, route: str = "") -> None:
    page.page.goto(f"{server.url}/index.html{route}")


def wait_map(page, timeout: float = 30_000) -> None:
    page.page.wait_for_selector(".ngff-map[data-state=ready]", timeout=timeout)


def show_region(page, map_w: int, map_h: int, x: int, y: int, w: int, h: int) -> None:
    """Resize the map to ``map_w`` x ``map_h`` CSS pixels, show level-0 region x, y, w, h, wait."""
    page.page.evaluate(
        """([mw, mh, x, y, w, h]) => {
            const box = document.querySelector('.ngff-map');
            Object.assign(box.style, {flex: 'none', width: mw + 'px', height: mh + 'px', minHeight: '0'});
            window.ngffstoreViewer.map.updateSize();
            box.dataset.state = 'pending';
            window.ngffstoreViewer.showRegion(x, y, w, h);
            window.ngffstoreViewer.map.render();  // a render follows even when nothing moved
        }""",
        [map_w, map_h, x, y, w, h],
    )
    wait_map(page)


def canvas_pixels(page, selector: str) -> np.ndarray:
    """The RGBA pixels of a canvas, read back through a lossless PNG."""
    url = page.page.evaluate("(s) => document.querySelector(s).toDataURL('image/png')", selector)
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(PILImage.open(io.BytesIO(data)).convert("RGBA"))


def reference_png(url: str, tmp_path, x: int, y: int, w: int, h: int, level: int, *extra) -> np.ndarray:
    out = tmp_path / f"ref-{level}-{x}-{y}-{'-'.join(map(str, extra))}.png"
    argv = ["window", url, "--x", x, "--y", y, "--width", w, "--height", h, "--level", level, *extra, "-o", out]
    assert main([str(a) for a in argv]) == 0
    return np.asarray(PILImage.open(out).convert("RGB"))


def assert_clean(page) -> None:
    assert page.errors == [], page.errors
    shown = page.page.locator(".ngff-error").all_inner_texts()
    assert shown == [], shown


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def index_rows(root: str) -> list[dict]:
    return pq.read_table(os.path.join(root, "ngffstore-index.parquet")).to_pylist()


def test_catalogue_lists_every_index_row(viewer_site, site_server, open_page):
    rows = index_rows(viewer_site["root"])
    page = open_page(1200, 3600)  # every thumbnail in view: they load when they scroll in
    with site_server.count() as log:
        goto(page, site_server)
        page.page.wait_for_selector(".ngff-row")
        page.page.wait_for_function(
            "[...document.querySelectorAll('.ngff-thumb')].every(c => c.dataset.state === 'ready')",
            timeout=30_000,
        )
    shown = page.page.eval_on_selector_all(".ngff-row", "rows => rows.map(r => r.dataset.path)")
    assert sorted(shown) == sorted(r["path"] for r in rows)
    assert len(rows) == 15  # the demo's image and 12 plate fields, and the two extra images
    # each row shows its name, kind, shape, channels, key-values and tags
    cells = page.page.locator('.ngff-row[data-path="cells.ome.zarr"]').inner_text()
    for text in ("demo cells", "image", "512 × 512", "DAPI, Membrane, Spots", "experiment", "demo", "cells"):
        assert text in cells
    # thumbnails come from the lowest level: no chunk of level 0 of a pyramid is read
    for path in ("cells.ome.zarr", "extra/v2-blosc.ome.zarr", "extra/sharded-gzip.ome.zarr"):
        level0 = [p for p in log.paths() if p.startswith(f"/{path}/0/") and not p.endswith(("zarr.json", ".zarray"))]
        assert level0 == [], level0
    failed = [r for r in log.requests if r.status not in (200, 206)]  # 206: ranges of shards
    assert failed == []
    fetched = [(r.path, r.range) for r in log.requests]
    assert len(fetched) == len(set(fetched))  # nothing read twice (the index once for all rows)
    # the filter box keeps the rows whose text matches every word
    page.page.fill(".ngff-filter", "dose_uM=10")
    visible = page.page.eval_on_selector_all(".ngff-row", "rows => rows.filter(r => !r.hidden).map(r => r.dataset.path)")
    assert sorted(visible) == sorted(r["path"] for r in rows if r.get("kv.dose_uM") == 10)
    assert len(visible) == 4
    assert_clean(page)


@pytest.mark.parametrize(
    ("path", "level"),
    [
        ("cells.ome.zarr", 0),
        ("cells.ome.zarr", 1),
        ("extra/v2-blosc.ome.zarr", 0),
        ("extra/v2-blosc.ome.zarr", 1),
        ("extra/sharded-gzip.ome.zarr", 0),
        ("extra/sharded-gzip.ome.zarr", 1),
    ],
)
def test_image_canvas_matches_ngffstore_png(viewer_site, site_server, open_page, tmp_path, path, level):
    page = open_page(1000, 700)
    goto(page, site_server, f"#/image/{path}")
    wait_map(page)
    map_w, map_h = 120, 100
    x, y = 40, 46  # even: a level-1 pixel is exactly 2 x 2 level-0 pixels
    w, h = map_w * 2**level, map_h * 2**level
    with site_server.count() as log:
        show_region(page, map_w, map_h, x, y, w, h)
    shown = canvas_pixels(page, ".ngff-image canvas")
    expected = reference_png(os.path.join(viewer_site["root"], path), tmp_path, x, y, w, h, level)
    assert shown.shape[:2] == expected.shape[:2] == (map_h, map_w)
    assert (shown[..., 3] == 255).all()
    diff = np.abs(shown[..., :3].astype(int) - expected.astype(int))
    assert diff.max() <= 2, f"max difference {diff.max()}, mean {diff.mean():.3f}"
    assert diff.mean() < 0.05
    # the tiles came from the level shown (its chunks or shards; none when the first view read them)
    chunks = [p for p in log.paths() if not p.endswith(("zarr.json", ".zarray", ".zattrs"))]
    assert all(p.startswith(f"/{path}/{level}/") for p in chunks), chunks
    assert_clean(page)


def test_roi_layers_and_label_overlay_are_drawn(viewer_site, site_server, open_page):
    root = viewer_site["root"]
    attrs = read_json(os.path.join(root, "cells.ome.zarr", "zarr.json"))["attributes"]
    rois = attrs["ngffstore"]["rois"]
    page = open_page(1200, 900)
    goto(page, site_server, "#/image/cells.ome.zarr")
    wait_map(page)
    page.page.wait_for_selector(f'.ngff-roi-panel[data-loaded="{len(rois["layers"])}"]')
    # the list: every ROI of every layer, with its terms
    listed = page.page.eval_on_selector_all(
        ".ngff-roi", "rows => rows.map(r => [r.dataset.layer, r.querySelectorAll('.ngff-term').length])"
    )
    assert len(listed) == sum(layer["count"] for layer in rois["layers"].values()) == 43
    assert sum(1 for layer, _ in listed if layer == "annotations") == 5
    first = page.page.locator('.ngff-roi[data-layer="annotations"][data-id="1"]').inner_text()
    assert "nucleus" in first and "mitosis" in first
    # drawn with the term colours of the ontology (a ROI with several terms: the most specific)
    colors = {t: tuple(int(info["color"][k : k + 2], 16) for k in (0, 2, 4)) for t, info in rois["terms"].items()}

    def count(rgb):
        drawn = canvas_pixels(page, ".ngff-rois canvas")
        near = np.abs(drawn[..., :3].astype(int) - np.array(rgb)).max(axis=-1) <= 8
        return int((near & (drawn[..., 3] == 255)).sum())

    show_region(page, 512, 512, 0, 0, 512, 512)
    assert count(colors["nucleus"]) > 2000  # both layers: 42 outlines
    page.page.uncheck('input[data-roi-layer="nuclei"]')  # the user layer alone: 3 + 1 + 1 outlines
    show_region(page, 512, 512, 0, 0, 512, 512)
    assert 200 < count(colors["nucleus"]) < 2000
    assert count(colors["mitosis"]) > 50
    assert count(colors["artifact"]) > 20
    page.page.uncheck('input[data-roi-layer="annotations"]')
    show_region(page, 512, 512, 0, 0, 512, 512)
    painted = page.page.evaluate("""() => [...document.querySelectorAll('.ngff-map .ngff-rois canvas')]
        .filter(c => c.isConnected && c.offsetParent !== null)
        .map(c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((v, i) => i % 4 === 3 && v).length)
        .reduce((a, b) => a + b, 0)""")
    assert painted == 0  # both layers unticked: nothing drawn

    # the label overlay: every pixel has the colour image-label gives its value (0 clear)
    page.page.check('input[data-label="nuclei"]')
    page.page.wait_for_selector(".ngff-labels canvas")
    show_region(page, 200, 160, 40, 60, 200, 160)
    overlay = canvas_pixels(page, ".ngff-labels canvas")
    labels = zarr.open_array(os.path.join(root, "cells.ome.zarr", "labels", "nuclei", "0"), mode="r")[60:220, 40:240]
    label_attrs = read_json(os.path.join(root, "cells.ome.zarr", "labels", "nuclei", "zarr.json"))["attributes"]
    table = {c["label-value"]: c["rgba"] for c in label_attrs["ome"]["image-label"]["colors"]}
    expected = np.array([table[int(v)][:3] for v in labels.ravel()], dtype=int).reshape(*labels.shape, 3)
    inside = labels > 0
    assert inside.sum() > 1000
    # the layer is drawn at 50 % opacity: alpha 128 on labels, 0 elsewhere; colours exact (but for
    # the rounding of the canvas's premultiplied alpha)
    assert (np.abs(overlay[..., 3][inside].astype(int) - 128) <= 1).all()
    assert (overlay[..., 3][~inside] == 0).all()
    assert np.abs(overlay[..., :3][inside].astype(int) - expected[inside]).max() <= 2
    assert_clean(page)


def test_plate_page_shows_every_well_and_opens_a_field(viewer_site, site_server, open_page):
    root = viewer_site["root"]
    plate = read_json(os.path.join(root, "plate.ome.zarr", "zarr.json"))["attributes"]["ome"]["plate"]
    rows = [r["name"] for r in plate["rows"]]
    cols = [c["name"] for c in plate["columns"]]
    wells = {f"{rows[w['rowIndex']]}{int(cols[w['columnIndex']]):02d}" for w in plate["wells"]}
    page = open_page(1200, 900)
    with site_server.count() as log:
        goto(page, site_server, "#/plate/plate.ome.zarr")
        wait_map(page)
    grid = page.page.eval_on_selector_all(".ngff-well", "cells => cells.map(c => [c.dataset.well, c.querySelectorAll('.ngff-field').length])")
    assert {w for w, _ in grid} == wells and len(wells) == 6
    assert all(n == 2 for _, n in grid)  # both fields of every well
    assert page.page.get_attribute(".ngff-map", "data-wells") == "6"
    # the overview is the stored preview: no field is read
    assert not [p for p in log.paths() if p.startswith(("/plate.ome.zarr/A/", "/plate.ome.zarr/B/"))]
    # a click on a field of the preview opens that field
    preview = read_json(os.path.join(root, "plate.ome.zarr", "preview", "zarr.json"))["attributes"]
    well = next(w for w in preview["ngffstore"]["plate_preview"]["wells"] if w["path"] == "A/2")
    fx, fy, fw, fh = well["fields"][1]["box"]
    px, py = page.page.evaluate(
        "([x, y]) => window.ngffstoreViewer.map.getPixelFromCoordinate([x, -y])", [fx + fw / 2, fy + fh / 2]
    )
    box = page.page.locator(".ngff-map").bounding_box()
    page.page.mouse.click(box["x"] + px, box["y"] + py)
    page.page.wait_for_function("location.hash.startsWith('#/image/plate.ome.zarr/A/2/1')")
    wait_map(page)
    assert "A02 field 1" in page.page.locator("h1").inner_text()
    assert_clean(page)


def test_image_page_requests(viewer_site, site_server, open_page):
    """A fresh image page: the page, its two assets, the index, the image's documents, the ROI
    layers and the chunks of the one level the fitted view shows."""
    page = open_page(600, 520)
    with site_server.count() as log:
        goto(page, site_server, "#/image/cells.ome.zarr")
        wait_map(page)
        page.page.wait_for_selector('.ngff-roi-panel[data-loaded="2"]')
    paths = log.paths()
    shown_level = 1  # the fitted view of a 512 px image in a map under 400 px
    chunks = [p for p in paths if p.startswith("/cells.ome.zarr/") and "/c/" in p]
    assert chunks and all(p.startswith(f"/cells.ome.zarr/{shown_level}/c/") for p in chunks), chunks
    assert len(chunks) == 3  # one 256 x 256 chunk per channel
    documents = [p for p in paths if p.endswith("zarr.json")]
    assert sorted(documents) == ["/cells.ome.zarr/0/zarr.json", "/cells.ome.zarr/1/zarr.json", "/cells.ome.zarr/zarr.json"]
    assert len(paths) == len(set(paths))  # nothing read twice
    assert len(paths) == 3 + 1 + 3 + 2 + 3, log.summary()  # page+assets, index, documents, ROI files, chunks
    assert_clean(page)


def test_unreadable_stores_show_a_message(viewer_site, site_server, open_page, tmp_path):
    root = viewer_site["root"]
    # an image compressed with a codec the viewer lacks (not in the index: `view` checks those)
    broken = os.path.join(root, "broken", "codec.ome.zarr")
    if not os.path.exists(broken):
        shutil.copytree(os.path.join(root, "cells.ome.zarr"), broken)
        for level in ("0", "1"):
            doc_path = os.path.join(broken, level, "zarr.json")
            doc = read_json(doc_path)
            doc["codecs"][1] = {"name": "numcodecs.lzma", "configuration": {}}
            with open(doc_path, "w") as f:
                json.dump(doc, f)
    page = open_page(1000, 700)
    goto(page, site_server, "#/image/broken/codec.ome.zarr?zarr=3")
    page.page.wait_for_selector(".ngff-map[data-state=error]")
    message = page.page.locator(".ngff-error").inner_text()
    assert "numcodecs.lzma" in message and "cannot decode" in message and "zstd" in message
    assert page.page.locator(".ngff-map-message").inner_text() == "This image cannot be shown."
    # an image that is not there: the host answers 403 (no listings)
    goto(page, site_server, "#/image/missing.ome.zarr?zarr=3")
    page.page.wait_for_selector(".ngff-map[data-state=error]")
    assert "answered 403" in page.page.locator(".ngff-error").inner_text()
    # a catalogue whose index cannot be read
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    for name in ("index.html", "ngffstore-viewer.js", "ngffstore-viewer.css"):
        shutil.copy(os.path.join(root, name), lonely / name)
    from httpserver import StaticHTTPServer

    with StaticHTTPServer(str(lonely)) as server:
        page.page.goto(f"{server.url}/index.html")
        page.page.wait_for_selector(".ngff-error")
        text = page.page.locator(".ngff-error").inner_text()
    assert "ngffstore-index.parquet" in text and "403" in text and "publicly readable" in text
    # nothing else failed: only the host's 403 answers reached the console
    assert all("403" in e for e in page.errors), page.errors


def test_plate_without_preview_and_a_float_image(tmp_path, open_page):
    """A Zarr v2 collection: a plate stored without a preview shows each well's first field; a 2-D
    float32 image (no c axis) renders as ngffstore renders it."""
    from httpserver import StaticHTTPServer

    import ngffstore
    from ngffstore.index import build_index
    from ngffstore.viewer import write_viewer

    rng = np.random.default_rng(3)
    fields = [(r, c, 0, (rng.random((64, 80)) * 1000).astype(np.float32)) for r in "AB" for c in "12"]
    ngffstore.write_plate(fields, str(tmp_path / "p.ome.zarr"), axes="yx", preview=False, progress=False,
                          ngff_version="0.4")
    flat = (np.add.outer(np.arange(300), np.arange(200)) / 5.0 + rng.random((300, 200))).astype(np.float32)
    ngffstore.write_image(flat, str(tmp_path / "flat.ome.zarr"), axes="yx", ngff_version="0.4", progress=False,
                          min_size=64)
    build_index(str(tmp_path))
    write_viewer(str(tmp_path))
    page = open_page(1000, 700)
    with StaticHTTPServer(str(tmp_path)) as server:
        goto(page, server, "#/plate/p.ome.zarr")
        page.page.wait_for_function(
            "document.querySelectorAll('.ngff-well .ngff-thumb').length === 4 && "
            "[...document.querySelectorAll('.ngff-well .ngff-thumb')].every(c => c.dataset.state === 'ready')"
        )
        wells = page.page.eval_on_selector_all(".ngff-well", "cells => cells.map(c => c.dataset.well)")
        assert sorted(wells) == ["A01", "A02", "B01", "B02"]
        assert "no stored preview" in page.page.locator(".ngff-note").inner_text()
        goto(page, server, "#/image/flat.ome.zarr")
        wait_map(page)
        show_region(page, 120, 100, 30, 50, 120, 100)
        shown = canvas_pixels(page, ".ngff-image canvas")
    expected = reference_png(str(tmp_path / "flat.ome.zarr"), tmp_path, 30, 50, 120, 100, 0)
    assert np.abs(shown[..., :3].astype(int) - expected.astype(int)).max() <= 2
    assert expected.std() > 10  # a gradient, not a flat picture
    assert_clean(page)


def test_z_slider_shows_another_plane(viewer_site, site_server, open_page, tmp_path):
    path = "extra/sharded-gzip.ome.zarr"  # z, y, x with 3 planes: the page opens on the middle one
    page = open_page(1000, 700)
    goto(page, site_server, f"#/image/{path}")
    wait_map(page)
    assert page.page.get_attribute('input[data-axis="z"]', "value") == "1"
    page.page.evaluate(
        """() => { const s = document.querySelector('input[data-axis="z"]'); s.value = '0';
                   s.dispatchEvent(new Event('change')); }"""
    )
    show_region(page, 120, 100, 40, 46, 120, 100)
    shown = canvas_pixels(page, ".ngff-image canvas")
    url = os.path.join(viewer_site["root"], path)
    first = reference_png(url, tmp_path, 40, 46, 120, 100, 0, "--z", 0)
    middle = reference_png(url, tmp_path, 40, 46, 120, 100, 0, "--z", 1)
    assert np.abs(shown[..., :3].astype(int) - first.astype(int)).max() <= 2
    assert np.abs(first.astype(int) - middle.astype(int)).max() > 50  # the planes differ
    assert_clean(page)
