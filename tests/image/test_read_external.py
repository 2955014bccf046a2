"""Other tools' stores through the same API: written here by ome-zarr-py, and the real-world
samples in ../shared/testdata/ngff-external (skipped when that folder is absent)."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
import zarr

from ngffstore.errors import NotNgffError
from ngffstore.image import open_image

EXTERNAL = pathlib.Path(__file__).resolve().parents[3] / "shared" / "testdata" / "ngff-external"
external = pytest.mark.skipif(not EXTERNAL.is_dir(), reason="ngff-external samples are not present")

DATA = np.random.default_rng(3).integers(0, 1000, size=(2, 100, 90), dtype=np.uint16)


def zarr_level(url, path):
    return np.asarray(zarr.open_array(str(url), path=path, mode="r")[...])


# -- ome-zarr-py ------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["0.4", "0.5"])
def ome_zarr_py_store(request, tmp_path_factory):
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image, write_labels

    fmt, zarr_format = (FormatV04(), 2) if request.param == "0.4" else (FormatV05(), 3)
    url = tmp_path_factory.mktemp("omezarr") / "image.zarr"
    group = zarr.open_group(str(url), mode="w", zarr_format=zarr_format)
    write_image(
        DATA,
        group,
        axes="cyx",
        fmt=fmt,
        scale_factors=(2, 4),
        storage_options={"chunks": (1, 32, 32)},
    )
    write_labels(
        (DATA[0] > 500).astype("uint8"), group, name="mask", axes="yx", fmt=fmt, scale_factors=(2,)
    )
    return request.param, url


def test_ome_zarr_py_stores(ome_zarr_py_store):
    version, url = ome_zarr_py_store
    image = open_image(url)
    assert image.version == version and image.zarr_format == (2 if version == "0.4" else 3)
    assert [lv.path for lv in image.levels] == ["s0", "s1", "s2"]
    assert [lv.shape for lv in image.levels] == [(2, 100, 90), (2, 50, 45), (2, 25, 22)]
    # its last level is 90 / 22 = 4.09x smaller along x: the real ratio, not 4
    assert image.levels[2].factors == pytest.approx((1.0, 4.0, 90 / 22))
    assert image.labels == ("mask",)
    # no omero: default names and colours
    assert [(c.label, c.color) for c in image.channels] == [
        ("channel 0", "0000FF"),
        ("channel 1", "00FF00"),
    ]
    for lv in image.levels:
        np.testing.assert_array_equal(image.to_dask(lv.index).compute(), zarr_level(url, lv.path))
    np.testing.assert_array_equal(image.window(10, 20, 50, 60).compute(), DATA[:, 20:80, 10:60])
    thumb = image.thumbnail(25)
    assert thumb.level == 2 and thumb.shape == (2, 25, 22)
    region = image.window(44, 40, 40, 40, level=2)  # x 44..84 -> level-2 pixels 10..21
    np.testing.assert_array_equal(region.compute(), zarr_level(url, "s2")[:, 10:20, 10:21])
    assert region.bbox[0] == round(10 * 90 / 22)
    # level-0 pixel x=40 straddles level-2 pixels 9 and 10: a point takes the one at its centre
    assert image.window(40, 40, 1, 1, level=2).shape == (2, 1, 2)
    point = image.point(40, 40, level=2)
    assert point.values.tolist() == zarr_level(url, "s2")[:, 10, 9].tolist()


# -- real-world samples -----------------------------------------------------------------------
@external
@pytest.mark.parametrize("name", ["simple_0.4", "simple_0.5"])
def test_neuroglancer_nested_dataset_paths(name):
    url = EXTERNAL / "neuroglancer" / name
    image = open_image(url)
    assert [lv.path for lv in image.levels] == ["scale0/image", "scale1/image", "scale2/image"]
    assert [lv.shape for lv in image.levels] == [(10, 10), (5, 5), (2, 2)]
    assert image.scale == {"y": 4.0, "x": 30.0} and image.units == {
        "y": "nanometer",
        "x": "nanometer",
    }
    np.testing.assert_array_equal(
        image.window(2, 3, 5, 4).compute(), zarr_level(url, "scale0/image")[3:7, 2:7]
    )
    assert image.thumbnail(5).level == 1
    xa = image.to_xarray(1)
    np.testing.assert_allclose(
        xa.coords["x"].values, 15 + 60 * np.arange(5)
    )  # translation + scale * i


@external
def test_neuroglancer_consolidated_metadata_is_used():
    image = open_image(EXTERNAL / "neuroglancer" / "simple_0.5")
    assert set(image._meta) == {0, 1, 2}  # every level from the group's inline metadata


@external
def test_fractal_plate_field_with_string_windows():
    plate = EXTERNAL / "fractal-tasks-core" / "plate_ones.zarr"
    image = open_image(plate / "B" / "03" / "0")
    assert image.axes == "czyx" and image.shape == (2, 2, 4320, 2560) and image.version == "0.4"
    assert [c.label for c in image.channels] == ["some-label-1", "some-label-2"]
    assert [(c.window.start, c.window.end) for c in image.channels] == [(0.0, 10.0), (0.0, 10.0)]
    assert len(image.levels) == 5
    thumb = image.thumbnail(128, z=1)
    assert thumb.level == 4 and thumb.shape == (2, 128, 76)
    assert (thumb.compute() == 1).all()
    stats = image.statistics(max_size=256, z=0)
    assert stats.level == 4 and stats["some-label-2"].mean == 1.0
    with pytest.raises(
        NotNgffError, match="HCS plate, not an image: open one field, e.g. .*B/03/0"
    ):
        open_image(plate)


@external
@pytest.mark.filterwarnings("ignore:Found an empty list of filters")  # zarr reading it directly
def test_legacy_bioformats2raw_layout():
    """bioformats2raw layout 1 with a 0.1 image (no axes): read as the 5-D tczyx of NGFF <= 0.3,
    levels matched by their shapes since there are no scales."""
    root = EXTERNAL / "viv" / "bioformats-zarr" / "data.zarr"
    image = open_image(root)
    assert image.url == os.path.join(str(root), "0") and image.version == "0.1"
    assert image.axes == "tczyx" and image.shape == (1, 3, 1, 167, 439) and image.dtype == np.int8
    assert image.levels[1].factors[3:] == pytest.approx((167 / 83, 439 / 219))
    expected = zarr_level(root / "0", "0")  # '.'-separated chunk keys
    np.testing.assert_array_equal(
        image.window(100, 50, 200, 100).compute(), expected[..., 50:150, 100:300]
    )
    assert image.thumbnail(64).level == 1
    assert image.point(3, 4, t=0, z=0).values.tolist() == expected[0, :, 0, 4, 3].tolist()
    assert open_image(root / "0").shape == image.shape


@external
@pytest.mark.parametrize("name", ["blobs_image_v04.ome.zarr", "blobs_image_v05.ome.zarr"])
def test_spatialdata_dialects(name):
    image = open_image(EXTERNAL / "viv" / "ome-zarr" / name)
    assert image.version.endswith("-dev-spatialdata") and image.shape == (3, 12, 12)
    assert [c.label for c in image.channels] == ["0", "1", "2"]  # integer labels as text
    assert image.window(0, 0, 12, 12).compute().dtype == np.float64


@external
def test_ngio_images_with_labels_and_no_chunks():
    image = open_image(EXTERNAL / "ngio" / "v04" / "images" / "test_image_tczyx.zarr")
    assert image.axes == "tczyx" and image.labels == ("label",)
    assert not image.window(0, 0, 8, 8, t=0).compute().any()  # no chunks stored: fill values


@external
def test_newer_ngff_versions_are_refused_clearly():
    with pytest.raises(NotNgffError, match="OME-NGFF 0.6.dev1, newer than this reader supports"):
        open_image(EXTERNAL / "neuroglancer" / "all_0.6" / "basic" / "scale.zarr")
