"""ROI layers in the store: write, query (bbox pruning), crops with masks, raster <-> vector,
statistics per term, bad input -- locally and on S3."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import fsspec
import jsonschema
import numpy as np
import pandas as pd
import pytest
import shapely
from fsspec.implementations.local import LocalFileOpener, LocalFileSystem

import ngffstore
from ngffstore import rois
from ngffstore.errors import InputError, OutputExistsError, StoreNotFoundError
from ngffstore.image import open_image
from ngffstore.rois import _parquet as pqio
from ngffstore.storage import Location

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "specs" / "rois.schema.json").read_text()
)


def make_image(url, shape=(300, 400), options=None, **kwargs):
    """An image at ``url``; on S3 it is written locally and uploaded (quicker than writing there)."""
    data = kwargs.pop("data", None)
    if data is None:
        data = np.zeros(shape, dtype=np.uint8)
    if not url.startswith("s3://"):
        ngffstore.write_image(data, url, progress=False, **kwargs)
        return url
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "img.zarr")
        ngffstore.write_image(data, local, progress=False, **kwargs)
        fsspec.filesystem("s3", **options).put(local, url[len("s3://") :], recursive=True)
    return url


def rois_attrs(url, options=None):
    from ngffstore.nodes import read_attrs

    return read_attrs(Location.parse(url, options))[1]["ngffstore"]["rois"]


SHAPES = [
    shapely.box(10, 10, 50, 40),
    shapely.Point(100.5, 100.25),
    shapely.LineString([(0, 0), (30, 200), (35.5, 210)]),
    shapely.Polygon(
        [(200, 200), (250, 200), (250, 250), (200, 250)],
        [[(210, 210), (220, 210), (220, 220), (210, 220)]],
    ),
    shapely.MultiPolygon([shapely.box(300, 10, 320, 30), shapely.box(330, 10, 350, 30)]),
    shapely.MultiPoint([(5, 5), (6, 7)]),
]


# ---------------------------------------------------------------------------------------------
def test_write_and_query_round_trip(store_url):
    root, options = store_url
    url = make_image(root + "/img.zarr", options=options)
    items = [
        {
            "geometry": g,
            "terms": ["tumor"] if i % 2 else ["stroma", "tissue"],
            "properties": {"i": i, "name": f"r{i}"},
        }
        for i, g in enumerate(SHAPES)
    ]
    layer = rois.write_rois(
        items, url, layer="cells", kind="algorithm", author="job-7", storage_options=options
    )
    assert layer.count == len(SHAPES) and layer.kind == "algorithm"
    df = rois.query(url, storage_options=options)
    assert list(df.columns) == list(rois._query.QUERY_COLUMNS)
    assert list(df["id"]) == list(range(1, len(SHAPES) + 1))
    for i, row in df.iterrows():
        assert shapely.equals_exact(row["geometry"], SHAPES[i], tolerance=0)
        assert row["properties"] == {"i": i, "name": f"r{i}"}
        assert row["terms"] == (["tumor"] if i % 2 else ["stroma", "tissue"])
        assert row["kind"] == "algorithm" and row["author"] == "job-7" and row["layer"] == "cells"
        assert row["area"] == pytest.approx(SHAPES[i].area)

    attrs = rois_attrs(url, options)
    jsonschema.validate(attrs, SCHEMA)
    assert attrs["count"] == len(SHAPES)
    assert attrs["counts"] == {"stroma": 3, "tissue": 3, "tumor": 3}
    lay = attrs["layers"]["cells"]
    assert lay["terms"] == {"stroma": 3, "tissue": 3, "tumor": 3}
    assert lay["term_areas"]["tumor"] == pytest.approx(sum(SHAPES[i].area for i in (1, 3, 5)))
    assert set(attrs["terms"]) == {"stroma", "tissue", "tumor"}
    assert sorted(lay["geometry_types"]) == [
        "LineString",
        "MultiPoint",
        "MultiPolygon",
        "Point",
        "Polygon",
    ]
    history = open_image(url, storage_options=options).provenance
    assert (
        history[-1]["operation"] == "write_rois" and history[-1]["parameters"]["layer"] == "cells"
    )
    # the image is still a valid NGFF image read by the reader
    assert open_image(url, storage_options=options).shape == (300, 400)

    one = rois.get_roi(url, 4, storage_options=options)
    assert shapely.equals(one["geometry"], SHAPES[3]) and one["layer"] == "cells"


def test_geoparquet_metadata(tmp_path):
    url = make_image(str(tmp_path / "img.zarr"))
    rois.write_rois(SHAPES, url, layer="a")
    import pyarrow.parquet as pq

    (path,) = glob.glob(f"{url}/rois/a/*.parquet")
    pf = pq.ParquetFile(path)
    geo = json.loads(pf.schema_arrow.metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    col = geo["columns"]["geometry"]
    assert col["encoding"] == "WKB" and col["crs"] is None
    assert col["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    table = pf.read()
    assert shapely.equals(shapely.from_wkb(table.column("geometry")[0].as_py()), SHAPES[0]) or len(
        table
    ) == len(SHAPES)


def test_append_overwrite_and_exists(tmp_path):
    url = make_image(str(tmp_path / "img.zarr"))
    rois.write_rois(SHAPES[:2], url, layer="a", kind="reviewed")
    with pytest.raises(OutputExistsError, match="already exists"):
        rois.write_rois(SHAPES[:1], url, layer="a")
    lay = rois.write_rois(SHAPES[2:4], url, layer="a", append=True)
    assert lay.kind == "reviewed" and lay.count == 4 and len(lay.files) == 2
    assert list(rois.read_rois(url, "a")["id"]) == [1, 2, 3, 4]
    with pytest.raises(InputError, match="reviewed layer"):
        rois.write_rois(SHAPES[:1], url, layer="a", append=True, kind="user")
    old_files = {f.path for f in lay.files}
    lay = rois.write_rois(SHAPES[4:], url, layer="a", overwrite=True)
    assert lay.count == 2 and lay.kind == "user"
    assert list(rois.read_rois(url, "a")["id"]) == [1, 2]
    for path in old_files:
        assert not os.path.exists(os.path.join(url, path))
    rois.remove_roi_layer(url, "a")
    assert rois.list_roi_layers(url) == {}
    assert not os.path.exists(os.path.join(url, "rois", "a"))


def test_ids_from_input_kept_or_renumbered(tmp_path):
    url = make_image(str(tmp_path / "img.zarr"))
    frame = pd.DataFrame({"id": [10, 20], "geometry": SHAPES[:2], "score": [0.5, 0.25]})
    rois.write_rois(frame, url, layer="a")
    df = rois.read_rois(url, "a")
    assert list(df["id"]) == [10, 20] and df["properties"][1] == {"score": 0.25}
    # clashing ids on append: renumbered after the existing ones, the input's ids kept as source_id
    rois.write_rois(
        pd.DataFrame({"id": [20, 21], "geometry": SHAPES[2:4]}), url, layer="a", append=True
    )
    df = rois.read_rois(url, "a")
    assert list(df["id"]) == [10, 20, 21, 22] and list(df["source_id"][2:]) == ["20", "21"]
    rois.write_rois([{"geometry": SHAPES[0], "id": "uuid-1"}], url, layer="b")
    assert rois.read_rois(url, "b")["source_id"][0] == "uuid-1"


# ---------------------------------------------------------------------------------------------
def random_boxes(n, extent, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, extent - 12, (n, 2))
    wh = rng.uniform(1, 10, (n, 2))
    return shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + wh[:, 0], xy[:, 1] + wh[:, 1])


@pytest.fixture(scope="module")
def dense_layer(tmp_path_factory):
    """20,000 small boxes in row groups of 256 rows (79 row groups)."""
    url = make_image(
        str(tmp_path_factory.mktemp("dense") / "img.zarr"), shape=(2000, 2000), chunks=1024
    )
    geoms = random_boxes(20000, 2000)
    terms = [["a"] if i % 3 else ["b"] for i in range(len(geoms))]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pqio, "ROW_GROUP_SIZE", 256)
        rois.write_rois(pd.DataFrame({"geometry": geoms, "terms": terms}), url, layer="dense")
    return url, geoms, terms


def test_bbox_query_matches_brute_force_and_prunes(dense_layer):
    url, geoms, terms = dense_layer
    rng = np.random.default_rng(5)
    for _ in range(8):
        x, y = rng.uniform(-50, 1900, 2)
        w, h = rng.uniform(0, 150, 2)
        df = rois.query(url, bbox=(x, y, w, h))
        expected = np.flatnonzero(shapely.intersects(geoms, shapely.box(x, y, x + w, y + h))) + 1
        assert sorted(df["id"]) == expected.tolist()
        stats = df.attrs["ngffstore"]
        assert stats["row_groups"] in (0, 79)  # 0: the box misses the layer's bbox
        assert stats["row_groups_read"] <= 12, stats
    # terms and bbox together
    df = rois.query(url, bbox=(0, 0, 500, 500), terms="b")
    box = shapely.box(0, 0, 500, 500)
    expected = [
        i + 1 for i in range(len(geoms)) if terms[i] == ["b"] and shapely.intersects(geoms[i], box)
    ]
    assert sorted(df["id"]) == expected
    # a box outside every ROI reads nothing
    df = rois.query(url, bbox=(5000, 5000, 10, 10))
    assert len(df) == 0 and df.attrs["ngffstore"]["row_groups_read"] == 0


class CountingFileSystem(LocalFileSystem):
    """A local filesystem that counts the bytes read through the files it opens."""

    protocol = "countingfile"
    bytes_read = 0

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        path = path.removeprefix("countingfile://")
        return LocalFileSystem._strip_protocol(path)

    def _open(self, path, mode="rb", block_size=None, **kwargs):
        return _CountingOpener(path, mode, fs=self, **kwargs)


class _CountingOpener(LocalFileOpener):
    def read(self, *args, **kwargs):
        data = self.f.read(*args, **kwargs)
        CountingFileSystem.bytes_read += len(data)
        return data

    def readinto(self, buffer):
        n = self.f.readinto(buffer)
        CountingFileSystem.bytes_read += n
        return n


def test_bbox_query_reads_few_bytes(dense_layer):
    url, geoms, _ = dense_layer
    fsspec.register_implementation("countingfile", CountingFileSystem, clobber=True)
    (path,) = glob.glob(f"{url}/rois/dense/*.parquet")
    size = os.path.getsize(path)
    CountingFileSystem.bytes_read = 0
    df = rois.query("countingfile://" + url, bbox=(1000, 1000, 40, 40))
    small = CountingFileSystem.bytes_read
    assert len(df) > 0
    assert small < size / 5, (small, size)
    CountingFileSystem.bytes_read = 0
    assert len(rois.query("countingfile://" + url)) == len(geoms)
    assert CountingFileSystem.bytes_read >= size * 0.9


def test_query_on_s3_prunes_requests(s3_server, s3_bucket, s3_options, monkeypatch):
    monkeypatch.setattr(pqio, "ROW_GROUP_SIZE", 256)
    url = make_image(f"s3://{s3_bucket}/img.zarr", shape=(1000, 1000), options=s3_options)
    geoms = random_boxes(5000, 1000, seed=3)
    rois.write_rois(geoms, url, layer="d", storage_options=s3_options)
    with s3_server.count() as log:
        df = rois.query(url, bbox=(500, 500, 30, 30), storage_options=s3_options)
    expected = np.flatnonzero(shapely.intersects(geoms, shapely.box(500, 500, 530, 530))) + 1
    assert sorted(df["id"]) == expected.tolist()
    gets = [r for r in log.requests if r.kind == "GET" and str(r.key).endswith(".parquet")]
    assert 1 <= len(gets) <= 6, log.summary()
    assert df.attrs["ngffstore"]["row_groups_read"] < df.attrs["ngffstore"]["row_groups"] / 4


def test_terms_query_follows_ontology_parents(tmp_path):
    url = make_image(str(tmp_path / "img.zarr"))
    onto = {
        "terms": [
            {"name": "tissue"},
            {"name": "tumor", "parent": "tissue", "color": "#ff0000"},
            {"name": "grade2", "parent": "tumor"},
            {"name": "stroma", "parent": "tissue"},
        ]
    }
    items = [
        {"geometry": g, "terms": [t]}
        for g, t in zip(SHAPES[:4], ["tumor", "grade2", "stroma", "tumor"])
    ]
    rois.write_rois(items, url, layer="a", ontology=onto)
    assert list(rois.query(url, terms="tumor")["id"]) == [1, 2, 4]
    assert list(rois.query(url, terms=["grade2"])["id"]) == [2]
    assert list(rois.query(url, terms="tissue")["id"]) == [1, 2, 3, 4]
    terms = rois.read_terms(url)
    assert terms.terms["tumor"].color == "FF0000" and terms.terms["grade2"].parent == "tumor"
    assert "tissue" in terms  # ancestors are kept in the image's copy
    with pytest.raises(InputError, match="unknown term 'necrosis'"):
        rois.write_rois(
            [{"geometry": SHAPES[0], "terms": ["necrosis"]}], url, layer="b", ontology=onto
        )
    assert "b" not in rois.list_roi_layers(url)


# ---------------------------------------------------------------------------------------------
def test_bad_input_writes_nothing(tmp_path):
    url = make_image(str(tmp_path / "img.zarr"))
    rois.write_rois(SHAPES[:2], url, layer="a")
    before = sorted(glob.glob(f"{url}/rois/**/*.parquet", recursive=True))
    attrs_before = rois_attrs(url)
    cases = [
        (
            [SHAPES[0], shapely.box(500, 500, 600, 600)],
            "ROI 1: the geometry .* lies entirely outside the image",
        ),
        ([shapely.Polygon()], "ROI 0: the geometry is empty"),
        (["POLYGON ((0 0, 1 1"], "ROI 0: invalid WKT"),
        ([shapely.Point(np.nan, 1)], "ROI 0: .*not finite"),
        ([{"geometry": SHAPES[0], "terms": [""]}], "invalid term"),
        ([42], "ROI 0: not a geometry"),
    ]
    for items, message in cases:
        with pytest.raises(InputError, match=message):
            rois.write_rois(items, url, layer="a", overwrite=True)
    with pytest.raises(InputError, match="layer name .* is not allowed"):
        rois.write_rois(SHAPES[:1], url, layer="../x")
    with pytest.raises(InputError, match="layer name .* is not allowed"):
        rois.write_rois(SHAPES[:1], url, layer="a/b")
    with pytest.raises(InputError, match="invalid layer kind"):
        rois.write_rois(SHAPES[:1], url, layer="k", kind="robot")
    assert sorted(glob.glob(f"{url}/rois/**/*.parquet", recursive=True)) == before
    assert rois_attrs(url) == attrs_before
    assert len(rois.read_rois(url, "a")) == 2


def test_failed_attribute_write_removes_new_file(tmp_path, monkeypatch):
    url = make_image(str(tmp_path / "img.zarr"))
    rois.write_rois(SHAPES[:2], url, layer="a")
    before = sorted(glob.glob(f"{url}/rois/**/*.parquet", recursive=True))

    def boom(*args, **kwargs):
        raise ngffstore.StorageError("disk full")

    monkeypatch.setattr(rois._store, "commit", boom)
    with pytest.raises(ngffstore.StorageError):
        rois.write_rois(SHAPES[2:], url, layer="a", overwrite=True)
    assert sorted(glob.glob(f"{url}/rois/**/*.parquet", recursive=True)) == before
    monkeypatch.undo()
    assert len(rois.read_rois(url, "a")) == 2


def test_self_intersecting_polygon_repaired_or_refused(tmp_path):
    url = make_image(str(tmp_path / "img.zarr"))
    bowtie = shapely.from_wkt("POLYGON ((10 10, 50 50, 50 10, 10 50, 10 10))")
    with pytest.warns(rois.RoiRepairWarning, match="ROI 1: Self-intersection"):
        lay = rois.write_rois([SHAPES[0], bowtie], url, layer="a")
    df = rois.read_rois(url, "a")
    assert df["geometry"][1].is_valid and df["geometry"][1].area == pytest.approx(800)
    assert lay.area == pytest.approx(SHAPES[0].area + 800)
    with pytest.raises(InputError, match="ROI 0: invalid geometry"):
        rois.write_rois([bowtie], url, layer="b", repair=False)
    assert "b" not in rois.list_roi_layers(url)


def test_unknown_layer_and_not_an_image(tmp_path):
    url = make_image(str(tmp_path / "img.zarr"))
    with pytest.raises(StoreNotFoundError, match="no ROI layer 'x'"):
        rois.query(url, layer="x")
    with pytest.raises(StoreNotFoundError):
        rois.write_rois(SHAPES[:1], str(tmp_path / "nothing"), layer="a")


# ---------------------------------------------------------------------------------------------
POLY = shapely.Polygon(
    [(37, 21), (141, 33), (120, 101), (66, 129), (29, 90)],
    [[(60, 50), (90, 55), (80, 80), (58, 75)]],
)


def inside_centres(geom, shape):
    ii, jj = np.mgrid[0 : shape[0], 0 : shape[1]]
    return shapely.contains_xy(geom, jj + 0.5, ii + 0.5)


@pytest.fixture
def crop_image(tmp_path):
    shape = (160, 200)
    data = np.where(inside_centres(POLY, shape), 200, 10).astype(np.uint8)
    url = make_image(str(tmp_path / "img.zarr"), data=data, chunks=64, min_size=32)
    rois.write_rois([SHAPES[0], POLY], url, layer="a")
    return url, data


def test_crop_mask_at_level_0(crop_image):
    url, data = crop_image
    image = open_image(url)
    c = rois.crop(image, 2)
    x0, y0, w, h = c.bbox
    assert (x0, y0, w, h) == (29, 21, 112, 108) and c.level == 0 and c.roi["layer"] == "a"
    pixels = c.compute()
    edge = on_edge(POLY, (x0, y0), (1, 1), c.mask.shape)
    assert np.array_equal(c.mask[~edge], (pixels == 200)[~edge])
    assert np.array_equal(pixels, data[y0 : y0 + h, x0 : x0 + w])
    # alpha: outside the mask is zero; increase_area widens the box about the centre
    a = rois.crop(url, POLY, alpha=True, increase_area=1.5)
    bx, by, bw, bh = a.bbox
    assert (bx, by, bw, bh) == (
        1,
        0,
        168,
        156,
    ) and a.region.clipped  # 162 px high, clipped at the top
    edge = on_edge(POLY, (bx, by), (1, 1), a.mask.shape)
    ref = inside_centres(shapely.affinity.translate(POLY, -bx, -by), a.mask.shape)
    assert np.array_equal(a.mask[~edge], ref[~edge])
    out = a.compute()
    assert (out[~a.mask] == 0).all() and (out[a.mask & ~edge] == 200).all()
    assert np.asarray(a.data).shape == out.shape


def on_edge(geom, origin, scale, shape):
    ii, jj = np.mgrid[0 : shape[0], 0 : shape[1]]
    return shapely.intersects_xy(
        geom.boundary, origin[0] + (jj + 0.5) * scale[0], origin[1] + (ii + 0.5) * scale[1]
    )


def test_crop_mask_at_downsampled_level(crop_image):
    from ngffstore.image.levels import nearest_index

    url, _data = crop_image
    image = open_image(url)
    for kwargs in ({"level": 1}, {"max_size": 40}, {"max_size": 25}):
        c = rois.crop(image, POLY, **kwargs)
        assert c.level >= 1
        pixels = c.compute()
        # the level's pixels wholly inside or wholly outside the polygon agree with the mask
        pure_in, pure_out = pixels == 200, pixels == 10
        assert pure_in.sum() > 20 and pure_out.sum() > 20
        assert c.mask[pure_in].all(), kwargs
        assert not c.mask[pure_out].any(), kwargs
        # and the mask is the polygon sampled at the centres of the level pixels the data show
        f = 2**c.level
        bx, by, bw, bh = c.bbox
        h, w = c.mask.shape
        rows = nearest_index(bh // f, h) or list(range(h))
        cols = nearest_index(bw // f, w) or list(range(w))
        cy = by + (np.asarray(rows)[:, None] + 0.5) * f
        cx = bx + (np.asarray(cols)[None, :] + 0.5) * f
        ref = shapely.contains_xy(POLY, cx, cy)
        edge = shapely.intersects_xy(POLY.boundary, cx, cy)
        assert np.array_equal(c.mask[~edge], ref[~edge]), kwargs
        assert c.mask.shape == pixels.shape


def test_crop_without_mask_and_points(crop_image):
    url, _ = crop_image
    c = rois.crop(url, 2, mask=False)
    assert c.mask.all()
    p = rois.crop(url, shapely.Point(10.5, 12.25))
    assert p.bbox == (10, 12, 1, 1) and p.mask.tolist() == [[True]]
    with pytest.raises(StoreNotFoundError, match="no ROI with id 99"):
        rois.crop(url, 99)


def test_geometry_mask_multipolygon_with_holes_and_offsets():
    geom = shapely.MultiPolygon([POLY, shapely.box(150, 10, 170, 40)])
    rng = np.random.default_rng(0)
    for _ in range(10):
        x0, y0 = rng.uniform(-20, 40, 2)
        sx, sy = rng.choice([0.5, 1, 2, 3.3], 2)
        shape = (70, 90)
        m = rois.geometry_mask(geom, shape, origin=(x0, y0), scale=(sx, sy))
        ii, jj = np.mgrid[0 : shape[0], 0 : shape[1]]
        cx, cy = x0 + (jj + 0.5) * sx, y0 + (ii + 0.5) * sy
        ref = shapely.contains_xy(geom, cx, cy)
        edge = shapely.intersects_xy(geom.boundary, cx, cy)
        assert np.array_equal(m[~edge], ref[~edge])


# ---------------------------------------------------------------------------------------------
def test_rasterize_and_from_labels(tmp_path):
    url = make_image(str(tmp_path / "img.zarr"), shape=(120, 150), chunks=64)
    shapes = [
        shapely.box(10, 10, 40, 30),
        shapely.Polygon(
            [(60, 20), (110, 20), (110, 90), (60, 90)], [[(70, 30), (90, 30), (90, 50), (70, 50)]]
        ),
        shapely.box(5, 60, 50, 110),
        shapely.box(20, 70, 30, 80),  # inside the previous one: smaller wins
    ]
    items = [
        {"geometry": g, "terms": [t], "properties": {"n": i}}
        for i, (g, t) in enumerate(zip(shapes, "abca"))
    ]
    rois.write_rois(items, url, layer="seg")
    summary = rois.rasterize(url, layer="seg", label="seg-labels")
    assert isinstance(summary, ngffstore.LabelsSummary) and summary.image == open_image(url).url
    assert summary.name == "seg-labels" and summary.property_count == 4
    labels = open_image(url).label("seg-labels")
    values = labels.to_dask(0).compute()
    assert values.shape == (120, 150)
    expected = np.zeros((120, 150), dtype=np.int64)
    for roi_id in (3, 1, 2, 4):
        expected[inside_centres(shapes[roi_id - 1], (120, 150))] = roi_id
    assert np.array_equal(values, expected)
    assert labels.properties[2] == {"n": 1, "terms": ["b"], "layer": "seg"}
    assert labels.colors[1][:3] == tuple(
        int(rois.read_terms(url).terms["a"].color[k : k + 2], 16) for k in (0, 2, 4)
    )

    layer = rois.from_labels(url, label="seg-labels", layer="back")
    assert layer.count == 4 and layer.kind == "algorithm"
    assert isinstance(layer, rois.RoiLayerSummary) and layer.url.endswith("/rois/back")
    back = rois.read_rois(url, "back")
    assert list(back["id"]) == [1, 2, 3, 4]
    for i in (0, 1, 3):
        assert shapely.equals(back["geometry"][i], shapes[i]), i
    assert shapely.equals(back["geometry"][2], shapes[2].difference(shapes[3]))
    assert back["terms"][1] == ["b"] and back["properties"][1] == {"n": 1}


def test_from_labels_across_chunks(tmp_path):
    from ngffstore.labels import write_labels

    url = make_image(str(tmp_path / "img.zarr"), shape=(100, 100), chunks=32)
    lab = np.zeros((100, 100), dtype=np.uint16)
    lab[10:70, 20:90] = 5
    lab[30:40, 40:50] = 0  # a hole
    lab[80:95, 5:95] = 7
    lab[80:95, 50] = 0  # split into two parts
    write_labels(lab, url, name="cells", progress=False, chunks=32)
    rois.from_labels(url, label="cells", layer="cells")
    df = rois.read_rois(url, "cells")
    assert list(df["id"]) == [5, 7]
    assert df["geometry"][0].geom_type == "Polygon" and len(df["geometry"][0].interiors) == 1
    assert df["geometry"][1].geom_type == "MultiPolygon"
    for roi_id, geom in zip(df["id"], df["geometry"]):
        assert np.array_equal(inside_centres(geom, lab.shape), lab == roi_id)


# ---------------------------------------------------------------------------------------------
def test_statistics_per_image_and_collection(tmp_path):
    root = tmp_path / "coll"
    a = make_image(
        str(root / "a.zarr"),
        shape=(200, 200),
        scale={"y": 0.5, "x": 0.5},
        units={"y": "micrometer", "x": "micrometer"},
    )
    b = make_image(
        str(root / "group" / "b.zarr"),
        shape=(200, 200),
        scale={"y": 0.5, "x": 0.5},
        units={"y": "micrometer", "x": "micrometer"},
    )
    rois.write_rois(
        [
            {"geometry": shapely.box(0, 0, 10, 10), "terms": ["t"]},
            {"geometry": shapely.box(0, 0, 20, 10), "terms": ["t", "u"]},
            {"geometry": shapely.box(0, 0, 5, 5)},
        ],
        a,
        layer="l1",
    )
    rois.write_rois([{"geometry": shapely.box(50, 50, 60, 60), "terms": ["u"]}], a, layer="l2")
    rois.write_rois([{"geometry": shapely.box(0, 0, 30, 30), "terms": ["t"]}], b, layer="l1")
    one = rois.statistics(a).set_index("term")
    assert (
        one.loc["t", "count"] == 2
        and one.loc["t", "area_px"] == 300
        and one.loc["t", "mean_area_px"] == 150
    )
    assert one.loc["u", "count"] == 2 and one.loc["u", "area_px"] == 300
    assert one.loc["(no term)", "count"] == 1 and one.loc["(no term)", "area_px"] == 25
    assert one.loc["t", "area"] == pytest.approx(75) and one.loc["t", "area_unit"] == "micrometer^2"
    assert set(one["layer"]) == {"*"}
    per = rois.statistics(a, per_layer=True)
    assert set(zip(per["layer"], per["term"])) == {
        ("l1", "t"),
        ("l1", "u"),
        ("l1", "(no term)"),
        ("l2", "u"),
    }
    coll = rois.statistics(collection=str(root))
    assert set(coll["image"]) == {"a.zarr", "group/b.zarr", "*"}
    total = coll[(coll["image"] == "*") & (coll["term"] == "t")].iloc[0]
    assert total["count"] == 3 and total["area_px"] == 1200 and total["mean_area_px"] == 400
    assert total["area"] == pytest.approx(300) and total["area_unit"] == "micrometer^2"
    # brute force from the stored ROIs
    df = rois.query(a)
    assert one.loc["t", "area_px"] == pytest.approx(
        sum(g.area for g, t in zip(df["geometry"], df["terms"]) if "t" in t)
    )


def test_stats_on_s3(s3_bucket, s3_options):
    url = make_image(f"s3://{s3_bucket}/c/img.zarr", options=s3_options)
    rois.write_rois(
        [{"geometry": shapely.box(0, 0, 10, 10), "terms": ["t"]}],
        url,
        layer="l",
        storage_options=s3_options,
    )
    df = rois.statistics(collection=f"s3://{s3_bucket}/c", storage_options=s3_options)
    assert df["count"].tolist() == [1] and df["image"].tolist() == ["img.zarr"]
    c = rois.crop(open_image(url, storage_options=s3_options), 1)
    assert c.mask.shape == (10, 10) and c.mask.all()


def test_store_ontology_file(tmp_path):
    root = tmp_path / "coll"
    url = make_image(str(root / "img.zarr"))
    onto_url = rois.write_ontology(
        {"terms": [{"name": "tissue", "color": "#00ff00"}, {"name": "tumor", "parent": "tissue"}]},
        str(root),
    )
    doc = json.loads(Path(onto_url).read_text())
    jsonschema.validate(doc, {**SCHEMA["$defs"]["ontology_file"], "$defs": SCHEMA["$defs"]})
    rois.write_rois(
        [{"geometry": SHAPES[0], "terms": ["tumor"]}], url, layer="a", ontology=onto_url
    )
    terms = rois.read_terms(url)
    assert set(terms.terms) == {"tissue", "tumor"} and terms.terms["tissue"].color == "00FF00"
    with pytest.raises(InputError, match="unknown term 'stroma'"):
        rois.write_rois(
            [{"geometry": SHAPES[0], "terms": ["stroma"]}], url, layer="b", ontology=onto_url
        )


def test_write_returns_a_layer_summary_and_old_names_warn(tmp_path):
    url = make_image(str(tmp_path / "img.zarr"))
    summary = rois.write_rois(SHAPES[:2], url, layer="a")
    assert isinstance(summary, rois.RoiLayerSummary) and isinstance(summary, rois.Layer)
    assert summary.count == 2 and summary.written and summary.image == open_image(url).url
    assert summary.url == open_image(url).location.child("rois", "a").url
    assert summary.name == "a" and "in " + summary.image in summary.to_text()
    assert rois.list_roi_layers(url)["a"].count == 2
    # a single WKT string is ROIs, not an image URL: the new order
    rois.write_rois("POINT (5 5)", url, layer="wkt")
    assert rois.list_roi_layers(url)["wkt"].count == 1

    with pytest.warns(DeprecationWarning, match=r"write_rois\(image_url, rois, \.\.\.\) is deprecated"):
        old = rois.write_rois(url, SHAPES[2:3], layer="b")
    assert isinstance(old, rois.RoiLayerSummary) and old.count == 1
    with pytest.warns(DeprecationWarning, match=r"write_rois\(image_url, rois"):
        rois.write_rois(open_image(url), "POINT (6 6)", layer="c")
    with pytest.warns(DeprecationWarning, match="rois.list_layers is deprecated; use ngffstore.rois.list_roi_layers"):
        assert set(rois.list_layers(url)) == {"a", "wkt", "b", "c"}
    with pytest.warns(DeprecationWarning, match="rois.delete_layer is deprecated"):
        rois.delete_layer(url, "b")
    with pytest.warns(DeprecationWarning, match="storage_options positionally"):
        assert "b" not in rois.read_rois_attrs(url, None).layers
    with pytest.warns(DeprecationWarning, match="storage_options positionally"):
        assert rois.load_ontology({"t": {"color": "ff0000"}}, None).terms["t"].color == "FF0000"
    root = str(tmp_path)
    with pytest.warns(DeprecationWarning, match=r"write_ontology\(root_url, ontology\)"):
        onto_url = rois.write_ontology(root, {"t": {"color": "ff0000"}})
    assert rois.write_ontology(onto_url, str(tmp_path / "copy")).endswith("ontology.json")


def test_rasterize_and_from_labels_old_orders_warn(tmp_path):
    url = make_image(str(tmp_path / "img.zarr"), shape=(60, 60))
    rois.write_rois([shapely.box(5, 5, 20, 20), shapely.box(30, 30, 50, 55)], url, layer="seg")
    with pytest.warns(DeprecationWarning, match="passing layer and label positionally to ngffstore.rois.rasterize"):
        labels = rois.rasterize(url, "seg", "seg-labels")
    assert isinstance(labels, ngffstore.labels.Labels)  # the old order returns the reader, as before
    assert sorted(np.unique(labels.to_dask(0).compute()).tolist()) == [0, 1, 2]
    with pytest.warns(DeprecationWarning, match="passing label and layer positionally to ngffstore.rois.from_labels"):
        layer = rois.from_labels(url, "seg-labels", "back")
    assert layer.count == 2 and isinstance(layer, rois.RoiLayerSummary)
    with pytest.raises(TypeError, match="missing the keyword argument layer="):
        rois.from_labels(url, label="seg-labels")
    with pytest.raises(TypeError, match="1 positional argument"):
        rois.rasterize(url, "seg", "x", "y")


def test_layer_and_table_names_follow_one_rule(tmp_path):
    from ngffstore.metadata import check_table_name

    url = make_image(str(tmp_path / "img.zarr"))
    for bad in ("../x", "a/b", ".hidden", "", "x" * 129):
        with pytest.raises(InputError, match=r"layer name .* is not allowed"):
            rois.write_rois(SHAPES[:1], url, layer=bad)
        with pytest.raises(InputError, match=r"table name .* is not allowed"):
            check_table_name(bad)
    assert check_table_name("a.b-c_1") == "a.b-c_1" == rois._model.check_layer_name("a.b-c_1")
