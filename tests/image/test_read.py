"""open_image and the reader verbs on local stores: levels, windows, thumbnails, points,
statistics, xarray views, pickling, formats (0.4/0.5, sharded, flat keys), bad input."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ngffstore
from ngffstore.errors import (
    MemoryCapError,
    NotNgffError,
    ReadError,
    RegionError,
    StoreNotFoundError,
)
from ngffstore.image import Image, Region, choose_level, open_image

RNG = np.random.default_rng(42)
CYX = RNG.integers(0, 60000, size=(3, 300, 260), dtype=np.uint16)


def write(data, url, **kwargs):
    kwargs.setdefault("progress", False)
    return ngffstore.write_image(data, str(url), **kwargs)


@pytest.fixture(scope="module")
def cyx(tmp_path_factory):
    """3 x 300 x 260, chunks 64, levels 300 -> 150 -> 75 -> 38, pixel size 0.5 µm."""
    url = str(tmp_path_factory.mktemp("read") / "cyx.zarr")
    write(
        CYX,
        url,
        axes="cyx",
        chunks=64,
        min_size=40,
        channels=["DAPI", "GFP", "RFP"],
        scale={"y": 0.5, "x": 0.5},
        units={"y": "micrometer", "x": "micrometer"},
        metadata={"operator": "ada"},
    )
    return url


@pytest.fixture(scope="module")
def img(cyx):
    with open_image(cyx) as image:
        yield image


def levels_np(url):
    group = zarr.open_group(url, mode="r")
    block = group.attrs.asdict().get("ome", group.attrs.asdict())
    return [np.asarray(group[ds["path"]][...]) for ds in block["multiscales"][0]["datasets"]]


# -- metadata ---------------------------------------------------------------------------------
def test_open_metadata(img, cyx):
    assert isinstance(img, Image)
    assert img.axes == "cyx" and img.shape == (3, 300, 260) and img.dtype == np.uint16
    assert img.version == "0.5" and img.zarr_format == 3
    assert [lv.shape for lv in img.levels] == [
        (3, 300, 260),
        (3, 150, 130),
        (3, 75, 65),
        (3, 38, 33),
    ]
    assert [lv.factors[1:] for lv in img.levels] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    assert img.levels[0].chunks == (1, 64, 64) and img.levels[0].shards is None
    assert img.levels[1].scale == (1.0, 1.0, 1.0) and img.levels[1].translation == (0.0, 0.25, 0.25)
    assert img.scale == {"y": 0.5, "x": 0.5}
    assert img.units == {"y": "micrometer", "x": "micrometer"}
    assert [c.label for c in img.channels] == ["DAPI", "GFP", "RFP"]
    assert all(c.window is not None and c.window.end > c.window.start for c in img.channels)
    assert img.labels == ()
    assert img.metadata["metadata"]["key_values"] == {"operator": "ada"}
    assert img.provenance and img.provenance[-1]["operation"] == "write_image"
    assert "ome" in img.attrs and img.name == "cyx"
    assert "cyx" in repr(img) and "4 levels" in repr(img)


def test_attrs_are_copies(img):
    img.attrs["ome"]["multiscales"] = []
    img.metadata["provenance"] = []
    assert img.attrs["ome"]["multiscales"] and img.provenance


# -- the level rule ---------------------------------------------------------------------------
def test_choose_level_rule():
    two = [(1, 1), (2, 2), (4, 4), (8, 8)]
    assert choose_level(two, (300, 260)) == 0
    assert choose_level(two, (300, 260), level=2) == 2
    assert choose_level(two, (300, 260), 256) == 0  # level 1 (150) is already below 256
    assert choose_level(two, (300, 260), 150) == 1  # exactly max_size still fits
    assert choose_level(two, (300, 260), 151) == 0
    assert choose_level(two, (300, 260), 38) == 3  # 300 / 8 = 37.5: 38 pixels of level 3
    assert choose_level(two, (300, 260), 39) == 2
    assert choose_level(two, (300, 260), 10) == 3
    assert choose_level(two, (300, 260), 1000) == 0  # never enlarged: level 0
    # real ratios, not an assumed 2: levels 3x and 10x apart
    odd = [(1, 1), (3, 3), (30, 30)]
    assert choose_level(odd, (900, 600), 300) == 1
    assert choose_level(odd, (900, 600), 301) == 0
    assert choose_level(odd, (900, 600), 30) == 2
    # anisotropic levels: the longest output edge counts
    aniso = [(1, 1), (1, 4)]
    assert choose_level(aniso, (100, 400), 100) == 1
    with pytest.raises(RegionError, match="not both"):
        choose_level(two, (10, 10), 5, level=1)
    with pytest.raises(RegionError, match="at least 1"):
        choose_level(two, (10, 10), 0)


def test_choose_level_uses_real_scales(tmp_path):
    """A 3x pyramid written by hand: the rule and the coordinates follow its scales."""
    url = str(tmp_path / "odd.zarr")
    base = RNG.integers(0, 255, size=(90, 120), dtype=np.uint8)
    group = zarr.open_group(url, mode="w", zarr_format=3)
    level1 = base[1::3, 1::3]
    group.create_array("0", data=base, chunks=(32, 32))
    group.create_array("1", data=level1, chunks=(32, 32))
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [0.2, 0.2]}],
                    },
                    {
                        "path": "1",
                        "coordinateTransformations": [{"type": "scale", "scale": [0.6, 0.6]}],
                    },
                ],
            }
        ],
    }
    image = open_image(url)
    assert [lv.factors for lv in image.levels] == [(1.0, 1.0), (3.0, 3.0)]
    thumb = image.thumbnail(40)
    assert thumb.level == 1 and thumb.shape == (30, 40)
    region = image.window(30, 12, 30, 9, level=1)
    assert region.bbox == (30, 12, 30, 9) and region.scale == (3.0, 3.0)
    np.testing.assert_array_equal(region.compute(), level1[4:7, 10:20])
    assert image.point(31, 14, level=1).values.item() == level1[4, 10]
    # channels default when there is no omero: one white channel
    assert [(c.label, c.color) for c in image.channels] == [("channel 0", "FFFFFF")]


# -- windows ----------------------------------------------------------------------------------
def test_window_level0(img):
    region = img.window(10, 20, 100, 50)
    assert isinstance(region, Region)
    assert region.level == 0 and region.axes == "cyx" and region.shape == (3, 50, 100)
    assert region.bbox == (10, 20, 100, 50) and not region.clipped and region.scale == (1.0, 1.0)
    np.testing.assert_array_equal(region.compute(), CYX[:, 20:70, 10:110])
    np.testing.assert_array_equal(region.to_numpy(), CYX[:, 20:70, 10:110])
    np.testing.assert_array_equal(region.data.compute(), CYX[:, 20:70, 10:110])
    assert "level 0" in repr(region)


def test_window_clipped_and_outside(img):
    region = img.window(-20, 250, 100, 100)
    assert region.clipped and region.bbox == (0, 250, 80, 50)
    np.testing.assert_array_equal(region.compute(), CYX[:, 250:300, 0:80])
    with pytest.raises(RegionError, match="outside the image"):
        img.window(260, 0, 10, 10)
    with pytest.raises(RegionError, match="outside the image"):
        img.window(-10, -10, 10, 10)
    with pytest.raises(RegionError, match="at least 1 pixel"):
        img.window(0, 0, 0, 10)
    with pytest.raises(RegionError, match="whole number"):
        img.window(0.5, 0, 10, 10)


def test_window_levels_and_max_size(img, cyx):
    levels = levels_np(cyx)
    region = img.window(40, 80, 120, 60, level=1)
    assert region.level == 1 and region.shape == (3, 30, 60) and region.scale == (2.0, 2.0)
    assert region.bbox == (40, 80, 120, 60)
    np.testing.assert_array_equal(region.compute(), levels[1][:, 40:70, 20:80])
    # odd coordinates widen to whole level pixels
    region = img.window(41, 81, 3, 3, level=2)
    assert region.bbox == (40, 80, 4, 4) and region.shape == (3, 1, 1)
    # max_size: level 1 holds 60 x 30 >= 50, level 2 only 30: read level 1, reduce to 50 wide
    region = img.window(40, 80, 120, 60, max_size=50)
    assert region.level == 1 and region.shape == (3, 25, 50)
    assert region.scale == pytest.approx((60 / 25, 120 / 50))
    # a small region is never enlarged
    region = img.window(0, 0, 20, 10, max_size=256)
    assert region.level == 0 and region.shape == (3, 10, 20)
    with pytest.raises(RegionError, match="not both"):
        img.window(0, 0, 10, 10, level=1, max_size=5)


def test_window_channel_selection(img):
    by_label = img.window(0, 0, 30, 20, c="GFP")
    assert by_label.axes == "yx" and [ch.label for ch in by_label.channels] == ["GFP"]
    np.testing.assert_array_equal(by_label.compute(), CYX[1, :20, :30])
    picked = img.window(0, 0, 30, 20, c=[2, "DAPI"])
    assert picked.axes == "cyx" and [ch.label for ch in picked.channels] == ["RFP", "DAPI"]
    np.testing.assert_array_equal(picked.compute(), CYX[[2, 0], :20, :30])
    np.testing.assert_array_equal(picked.data.compute(), CYX[[2, 0], :20, :30])
    with pytest.raises(RegionError, match="no channel 'YFP'"):
        img.window(0, 0, 10, 10, c="YFP")
    with pytest.raises(RegionError, match="out of range"):
        img.window(0, 0, 10, 10, c=3)
    with pytest.raises(RegionError, match="has no z axis"):
        img.window(0, 0, 10, 10, z=0)


def test_window_z_t_selection(tmp_path):
    data = RNG.integers(0, 1000, size=(2, 2, 8, 64, 48), dtype=np.uint16)
    url = tmp_path / "tczyx.zarr"
    write(data, url, axes="tczyx", chunks=(1, 1, 4, 32, 32), min_size=16, downsample_z=True)
    image = open_image(url)
    assert [lv.factors[2:] for lv in image.levels] == [(1, 1, 1), (2, 2, 2), (4, 4, 4)]
    region = image.window(8, 4, 20, 30, z=5, t=1)
    assert region.axes == "cyx"
    np.testing.assert_array_equal(region.compute(), data[1, :, 5, 4:34, 8:28])
    region = image.window(0, 0, 48, 64, z=[1, 6], t=0, c=1)
    np.testing.assert_array_equal(region.compute(), data[0, 1, [1, 6]])
    # z is given in level-0 planes: plane 5 is plane 2 of level 1
    level1 = levels_np(str(url))[1]
    np.testing.assert_array_equal(
        image.window(0, 0, 48, 64, level=1, z=5, t=0).compute(), level1[0, :, 2]
    )
    with pytest.raises(RegionError, match="z=8 is out of range"):
        image.window(0, 0, 4, 4, z=8)
    assert image.point(3, 2, z=4).values.shape == (2, 2)  # t and c left


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    x=st.integers(-300, 300),
    y=st.integers(-320, 320),
    w=st.integers(1, 400),
    h=st.integers(1, 400),
    c=st.sampled_from([None, 0, 2, [1], [2, 0]]),
)
def test_window_equals_numpy_slicing(img, x, y, w, h, c):
    x0, x1, y0, y1 = max(x, 0), min(x + w, 260), max(y, 0), min(y + h, 300)
    if x1 <= x0 or y1 <= y0:
        with pytest.raises(RegionError):
            img.window(x, y, w, h, c=c)
        return
    region = img.window(x, y, w, h, c=c)
    expected = CYX[:, y0:y1, x0:x1] if c is None else CYX[c, y0:y1, x0:x1]
    assert region.clipped == ((x0, y0, x1, y1) != (x, y, x + w, y + h))
    assert region.bbox == (x0, y0, x1 - x0, y1 - y0)
    np.testing.assert_array_equal(region.compute(), expected)


# -- thumbnails -------------------------------------------------------------------------------
def test_thumbnail_reads_the_level_that_fits(img, cyx):
    levels = levels_np(cyx)
    thumb = img.thumbnail(64)
    assert thumb.level == 2 and thumb.shape == (3, 64, 55) and not thumb.clipped
    rows = [min(74, int((i + 0.5) * 75 / 64)) for i in range(64)]
    cols = [min(64, int((i + 0.5) * 65 / 55)) for i in range(55)]
    np.testing.assert_array_equal(thumb.compute(), levels[2][:, rows][:, :, cols])
    np.testing.assert_array_equal(thumb.data.compute(), thumb.compute())
    assert img.thumbnail(38).shape == (3, 38, 33) and img.thumbnail(38).level == 3
    assert img.thumbnail(150, c="RFP").level == 1
    # level 0 only when it is the only level that large
    assert img.thumbnail(151).level == 0 and img.thumbnail(151).shape == (3, 151, 131)
    assert img.thumbnail(1000).shape == (3, 300, 260)


def test_thumbnail_never_opens_level0_chunks(tmp_path):
    url = tmp_path / "t.zarr"
    write(CYX, url, axes="cyx", chunks=64, min_size=40)
    image = open_image(url)
    shutil.rmtree(os.path.join(url, "0", "c"))  # level 0 chunks gone: reading them gives zeros
    thumb = image.thumbnail(64).compute()
    assert thumb.any() and image.thumbnail(64).level == 2


# -- point and statistics ---------------------------------------------------------------------
def test_point(img, cyx):
    p = img.point(17, 123)
    assert p.axes == "c" and p.level == 0 and (p.x, p.y) == (17, 123)
    np.testing.assert_array_equal(p.values, CYX[:, 123, 17])
    assert p.to_dict() == {
        "DAPI": int(CYX[0, 123, 17]),
        "GFP": int(CYX[1, 123, 17]),
        "RFP": int(CYX[2, 123, 17]),
    }
    p1 = img.point(17, 123, level=1, c="GFP")
    assert p1.axes == "" and p1.values.item() == levels_np(cyx)[1][1, 61, 8]
    assert p1.to_dict() == {"GFP": int(levels_np(cyx)[1][1, 61, 8])}
    with pytest.raises(RegionError, match="outside"):
        img.point(260, 0)
    assert "DAPI" in repr(p)


def test_statistics(img, cyx):
    stats = img.statistics(max_size=None)
    assert stats.level == 0 and list(stats) == ["DAPI", "GFP", "RFP"] and len(stats) == 3
    for i, label in enumerate(["DAPI", "GFP", "RFP"]):
        s = stats[label]
        values = CYX[i].astype(np.float64)
        assert s.count == values.size and s.valid_percent == 100.0
        assert (s.min, s.max) == (values.min(), values.max())
        assert s.mean == pytest.approx(values.mean()) and s.std == pytest.approx(values.std())
        assert s.percentiles[2.0] == pytest.approx(np.percentile(values, 2))
        assert sum(s.histogram[0]) == s.count and len(s.histogram[1]) == 257
    assert stats[1] is stats["GFP"]
    # the default budget (1024 px) keeps level 0 here; a small one uses a lower level
    assert img.statistics().level == 0
    small = img.statistics(max_size=40, c=["GFP"], percentiles=(50,), bins=8)
    assert small.level == 2 and list(small) == ["GFP"]
    level2 = levels_np(cyx)[2][1].astype(np.float64)
    assert small["GFP"].mean == pytest.approx(level2.mean())
    assert small["GFP"].percentiles == {50.0: pytest.approx(np.median(level2))}
    region = img.statistics(region=(10, 10, 20, 20), c=0)
    assert region.bbox == (10, 10, 20, 20)
    assert region["DAPI"].max == CYX[0, 10:30, 10:30].max()
    assert json.dumps(stats.to_dict())


def test_statistics_ignores_nan(tmp_path):
    data = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    data[:8] = np.nan
    url = tmp_path / "f.zarr"
    write(data, url, chunks=32, levels=1)
    s = open_image(url).statistics()["channel 0"]
    assert s.count == 56 * 64 and s.valid_percent == pytest.approx(100 * 56 / 64)
    assert s.min == 8 * 64


# -- memory cap -------------------------------------------------------------------------------
def test_memory_cap(cyx):
    image = open_image(cyx, memory_cap=10_000)
    with pytest.raises(MemoryCapError, match=r"max_size=.*memory_cap=") as info:
        image.window(0, 0, 260, 300)
    assert "\n" not in str(info.value) and isinstance(info.value, MemoryError)
    assert image.window(0, 0, 260, 300, memory_cap=1 << 20).shape == (3, 300, 260)
    assert image.window(0, 0, 260, 300, max_size=32).shape == (3, 32, 28)  # fits under the cap
    with pytest.raises(MemoryCapError):
        open_image(cyx).window(0, 0, 260, 300, memory_cap=100)
    with pytest.raises(MemoryCapError):
        image.statistics(max_size=None)


# -- dask, xarray, pickling -------------------------------------------------------------------
def test_to_dask(img, cyx):
    levels = levels_np(cyx)
    for i, expected in enumerate(levels):
        arr = img.to_dask(i)
        assert arr.shape == expected.shape and arr.dtype == expected.dtype
        np.testing.assert_array_equal(arr.compute(), expected)
    assert img.to_dask(0, chunks=(1, 100, 100)).chunks[1] == (100, 100, 100)
    with pytest.raises(ReadError, match="level 4 does not exist"):
        img.to_dask(4)


def test_to_xarray_and_datatree(img, cyx):
    xa = img.to_xarray(1)
    assert xa.dims == ("c", "y", "x") and xa.shape == (3, 150, 130)
    assert list(xa.coords["c"].values) == ["DAPI", "GFP", "RFP"]
    np.testing.assert_allclose(
        xa.coords["y"].values[:3], [0.25, 1.25, 2.25]
    )  # translation + scale * i
    assert xa.coords["x"].attrs["units"] == "micrometer"
    np.testing.assert_array_equal(xa.sel(c="GFP").values, levels_np(cyx)[1][1])
    # the same physical point on two levels
    assert float(img.to_xarray(0).coords["x"][10]) == 5.0
    tree = img.to_datatree()
    assert list(tree.children) == ["scale0", "scale1", "scale2", "scale3"]
    assert tree["scale2"]["image"].shape == (3, 75, 65)


def test_pickle_reopens_lazily(img, cyx):
    img.window(0, 0, 5, 5).compute()  # opens the store and caches readers
    payload = pickle.dumps(img)
    assert len(payload) < 20_000 and b"LocalStore" not in payload
    back = pickle.loads(payload)
    assert back.url == img.url and back.levels == img.levels and back.memory_cap == img.memory_cap
    np.testing.assert_array_equal(back.window(3, 4, 10, 10).compute(), CYX[:, 4:14, 3:13])
    region = pickle.loads(pickle.dumps(img.window(3, 4, 10, 10).data))
    np.testing.assert_array_equal(region.compute(), CYX[:, 4:14, 3:13])


def test_distributed_workers_read(cyx):
    """Images and their dask arrays pickle to worker processes, which reopen the store."""
    import dask

    distributed = pytest.importorskip("distributed")
    slow_machine = {
        "distributed.comm.timeouts.connect": "60s",
        "distributed.comm.timeouts.tcp": "60s",
    }
    with dask.config.set(slow_machine):
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0"
        )
        with cluster, distributed.Client(cluster) as client:
            image = open_image(cyx)
            total = client.compute(image.to_dask(0, chunks=(1, 100, 100)).sum(dtype="int64"))
            assert total.result() == CYX.sum(dtype=np.int64)
            future = client.submit(lambda im: im.point(5, 6).values.tolist(), image)
            assert future.result() == CYX[:, 6, 5].tolist()


def test_close_and_reopen(cyx):
    image = open_image(cyx)
    with image as same:
        assert same is image
        same.window(0, 0, 4, 4).compute()
    np.testing.assert_array_equal(image.window(0, 0, 4, 4).compute(), CYX[:, :4, :4])


# -- formats ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"ngff_version": "0.4"},
        {"ngff_version": "0.5", "shards": (1, 128, 128)},
        {"ngff_version": "0.5", "compression": "blosc-lz4"},
    ],
    ids=["v2", "sharded", "blosc"],
)
def test_formats(tmp_path, options):
    url = tmp_path / "f.zarr"
    write(CYX, url, axes="cyx", chunks=64, min_size=40, **options)
    image = open_image(url)
    assert image.zarr_format == (2 if options["ngff_version"] == "0.4" else 3)
    if "shards" in options:
        assert image.levels[0].shards == (1, 128, 128)
    np.testing.assert_array_equal(image.window(30, 40, 150, 100).compute(), CYX[:, 40:140, 30:180])
    levels = levels_np(str(url))
    np.testing.assert_array_equal(image.to_dask(2).compute(), levels[2])


def test_flat_chunk_keys_v2(tmp_path):
    """Zarr v2 with '.'-separated chunk keys (the v2 default of many writers)."""
    url = str(tmp_path / "flat.zarr")
    data = CYX[0]
    group = zarr.open_group(url, mode="w", zarr_format=2)
    group.create_array(
        "0", data=data, chunks=(64, 64), chunk_key_encoding={"name": "v2", "separator": "."}
    )
    group.attrs.update(
        {
            "multiscales": [
                {
                    "version": "0.4",
                    "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                    "datasets": [
                        {
                            "path": "0",
                            "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}],
                        }
                    ],
                }
            ],
        }
    )
    assert os.path.exists(os.path.join(url, "0", "1.1"))
    image = open_image(url)
    np.testing.assert_array_equal(image.window(60, 70, 80, 90).compute(), data[70:160, 60:140])


def test_labels_listed(tmp_path):
    url = tmp_path / "l.zarr"
    write(CYX[0], url, chunks=64, levels=1)
    labels = zarr.open_group(str(url / "labels"), mode="w", zarr_format=3)
    labels.attrs["ome"] = {"version": "0.5", "labels": ["cells", "nuclei"]}
    assert open_image(url).labels == ("cells", "nuclei")


def test_bioformats2raw_layout(tmp_path):
    root = tmp_path / "b2r.zarr"
    write(CYX[0], root / "0", chunks=64, levels=2)
    write(CYX[1], root / "1", chunks=64, levels=2)
    zarr.open_group(str(root), mode="a", zarr_format=3).attrs["ome"] = {
        "version": "0.5",
        "bioformats2raw.layout": 3,
    }
    first = open_image(root)
    assert first.url.endswith(os.path.join("b2r.zarr", "0"))
    np.testing.assert_array_equal(first.window(0, 0, 10, 10).compute(), CYX[0, :10, :10])
    np.testing.assert_array_equal(
        open_image(root, series=1).window(0, 0, 10, 10).compute(), CYX[1, :10, :10]
    )
    np.testing.assert_array_equal(
        open_image(root / "1").window(0, 0, 10, 10).compute(), CYX[1, :10, :10]
    )
    with pytest.raises(StoreNotFoundError, match="series '5' not found"):
        open_image(root, series=5)
    # series paths listed in OME/ when they are not 0, 1, ...
    shutil.move(str(root / "1"), str(root / "second"))
    ome = zarr.open_group(str(root / "OME"), mode="w", zarr_format=3)
    ome.attrs["ome"] = {"version": "0.5", "series": ["0", "second"]}
    np.testing.assert_array_equal(
        open_image(root, series=1).window(0, 0, 5, 5).compute(), CYX[1, :5, :5]
    )
    with pytest.raises(NotNgffError, match="not a bioformats2raw collection"):
        open_image(root / "0", series=1)


# -- bad input --------------------------------------------------------------------------------
def test_unknown_url(tmp_path):
    with pytest.raises(StoreNotFoundError, match="no Zarr group") as info:
        open_image(tmp_path / "nothing.zarr")
    assert isinstance(info.value, FileNotFoundError)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreNotFoundError):
        open_image(tmp_path / "empty")


def test_not_ngff(tmp_path):
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w").attrs["hello"] = 1
    with pytest.raises(NotNgffError, match="not an OME-NGFF image"):
        open_image(tmp_path / "plain.zarr")
    zarr.create_array(str(tmp_path / "array.zarr"), shape=(4, 4), dtype="u1")
    with pytest.raises(NotNgffError, match="is a Zarr array, not a group"):
        open_image(tmp_path / "array.zarr")
    zarr.create_array(str(tmp_path / "array2.zarr"), shape=(4, 4), dtype="u1", zarr_format=2)
    with pytest.raises(NotNgffError, match="is a Zarr array"):
        open_image(tmp_path / "array2.zarr")
    plate = zarr.open_group(str(tmp_path / "plate.zarr"), mode="w", zarr_format=3)
    plate.attrs["ome"] = {"version": "0.5", "plate": {"wells": [{"path": "B/03"}]}}
    with pytest.raises(
        NotNgffError, match=r"HCS plate, not an image: open one field, e\.g\. .*plate\.zarr/B/03/0"
    ):
        open_image(tmp_path / "plate.zarr")


def test_missing_level(tmp_path):
    url = tmp_path / "m.zarr"
    write(CYX, url, axes="cyx", chunks=64, min_size=40)
    shutil.rmtree(url / "1")
    image = open_image(url)  # levels 0 and 3 are read at open
    np.testing.assert_array_equal(image.window(0, 0, 8, 8).compute(), CYX[:, :8, :8])
    with pytest.raises(ReadError, match=r"level 1 \('1'\) of .* is missing"):
        image.window(0, 0, 100, 100, level=1)
    with pytest.raises(ReadError, match="level 1"):
        image.levels  # noqa: B018
    shutil.rmtree(url / "0")
    with pytest.raises(ReadError, match=r"level 0 \('0'\)"):
        open_image(url)


def test_corrupt_and_missing_chunks(tmp_path):
    url = tmp_path / "c.zarr"
    write(CYX, url, axes="cyx", chunks=64, levels=1)
    chunk = url / "0" / "c" / "1" / "2" / "3"  # channel 1, rows 128-191, cols 192-255
    chunk.write_bytes(b"garbage, not zstd")
    image = open_image(url)
    with pytest.raises(ReadError, match=r"chunk 0/c/1/2/3 of .*c\.zarr .*corrupt") as info:
        image.window(150, 100, 100, 100).compute()
    assert "\n" not in str(info.value)
    with pytest.raises(ReadError, match="chunk 0/c/1/2/3"):
        image.window(150, 100, 100, 100, c=[0, 1]).data.compute()
    np.testing.assert_array_equal(image.window(0, 0, 100, 100).compute(), CYX[:, :100, :100])
    # a missing chunk is sparse data: the fill value
    os.remove(url / "0" / "c" / "0" / "0" / "0")
    out = image.window(0, 0, 100, 100, c=0).compute()
    assert not out[:64, :64].any()
    np.testing.assert_array_equal(out[64:, 64:], CYX[0, 64:100, 64:100])
