"""``.npy`` files, Zarr arrays, and the axes rules they share with every converter."""

from __future__ import annotations

import pickle
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from converters import arrays as arrays_module
from converters import open_source
from converters._common import apply_axes
from ngffstore.errors import AxesError, InputError


def _ramp(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    return (np.arange(int(np.prod(shape))) % 65521).astype(dtype).reshape(shape)


# -- .npy ----------------------------------------------------------------------------------------


def test_npy_2d_streams_in_row_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrays_module, "TARGET_CHUNK_BYTES", 10 * 50 * 2)
    data = _ramp((95, 50))
    np.save(tmp_path / "image.npy", data)
    source = open_source(tmp_path / "image.npy")
    assert (source.axes, source.name) == ("yx", "image")
    assert source.data.chunks == ((10,) * 9 + (5,), (50,))
    np.testing.assert_array_equal(source.data.compute(), data)


def test_npy_chunks_split_leading_axes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrays_module, "TARGET_CHUNK_BYTES", 20 * 30 * 2)
    data = _ramp((4, 40, 30))
    np.save(tmp_path / "stack.npy", data)
    source = open_source(tmp_path / "stack.npy", axes="zyx")
    assert source.data.chunksize == (1, 20, 30)
    np.testing.assert_array_equal(source.data.compute(), data)


def test_npy_3d_needs_axes(tmp_path: Path) -> None:
    np.save(tmp_path / "stack.npy", _ramp((3, 20, 30)))
    with pytest.raises(AxesError) as error:
        open_source(tmp_path / "stack.npy")
    text = str(error.value)
    assert "(3, 20, 30)" in text and "--axes zyx" in text and "\n" not in text


@pytest.mark.parametrize(
    ("axes", "expected_axes", "order"),
    [
        ("zyx", "zyx", (0, 1, 2)),
        ("CYX", "cyx", (0, 1, 2)),
        ("yxc", "cyx", (2, 0, 1)),
        ("xyt", "tyx", (2, 1, 0)),
    ],
)
def test_npy_axes_override(
    tmp_path: Path, axes: str, expected_axes: str, order: tuple[int, ...]
) -> None:
    data = _ramp((6, 20, 3))
    np.save(tmp_path / "a.npy", data)
    source = open_source(tmp_path / "a.npy", axes=axes)
    assert source.axes == expected_axes
    np.testing.assert_array_equal(source.data.compute(), np.transpose(data, order))


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ("yx", "has 2 letters"),
        ("zyxc", "has 4 letters"),
        ("qyx", "unknown axis letter"),
        ("zzx", "repeat"),
        ("tcz", "must include y and x"),
        (3, "must be a string"),
    ],
)
def test_npy_bad_axes(tmp_path: Path, axes: object, message: str) -> None:
    np.save(tmp_path / "a.npy", _ramp((6, 20, 3)))
    with pytest.raises(AxesError, match=message) as error:
        open_source(tmp_path / "a.npy", axes=axes)  # type: ignore[arg-type]
    assert "\n" not in str(error.value)


def test_npy_dimensions_rules(tmp_path: Path) -> None:
    np.save(tmp_path / "five.npy", _ramp((2, 2, 2, 8, 8)))
    assert open_source(tmp_path / "five.npy").axes == "tczyx"
    np.save(tmp_path / "four.npy", _ramp((2, 2, 8, 8)))
    with pytest.raises(AxesError, match="--axes czyx"):
        open_source(tmp_path / "four.npy")
    np.save(tmp_path / "one.npy", _ramp((8,)))
    with pytest.raises(AxesError, match="2 to 5 dimensions"):
        open_source(tmp_path / "one.npy")


def test_npy_singleton_dimensions_may_be_left_out_of_axes(tmp_path: Path) -> None:
    data = _ramp((1, 5, 20, 30))
    np.save(tmp_path / "a.npy", data)
    source = open_source(tmp_path / "a.npy", axes="zyx")
    assert source.axes == "zyx"
    np.testing.assert_array_equal(source.data.compute(), data[0])


def test_npy_big_endian_becomes_native(tmp_path: Path) -> None:
    data = _ramp((20, 30)).astype(">u2")
    np.save(tmp_path / "be.npy", data)
    source = open_source(tmp_path / "be.npy")
    assert source.data.dtype == np.dtype("uint16") and source.data.dtype.isnative
    np.testing.assert_array_equal(source.data.compute(), data)


def test_npy_graph_pickles_to_worker_processes(tmp_path: Path) -> None:
    data = _ramp((2, 3, 4, 20, 30))
    np.save(tmp_path / "five.npy", data)
    source = open_source(tmp_path / "five.npy")
    restored = pickle.loads(pickle.dumps(source.data))
    np.testing.assert_array_equal(restored.compute(scheduler="processes", num_workers=2), data)


def test_npy_fortran_order_is_chunked_along_last_axes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrays_module, "TARGET_CHUNK_BYTES", 4 * 40 * 2)
    data = np.asfortranarray(_ramp((4, 40, 30)))
    np.save(tmp_path / "fortran.npy", data)
    source = open_source(tmp_path / "fortran.npy", axes="zyx")
    assert source.data.chunksize == (4, 40, 1)  # contiguous along z then y
    np.testing.assert_array_equal(source.data.compute(), data)


def test_npy_on_s3(s3_bucket: str, s3_options: dict, tmp_path: Path) -> None:
    import s3fs

    data = _ramp((3, 50, 40))
    np.save(tmp_path / "stack.npy", data)
    s3fs.S3FileSystem(**s3_options).put(str(tmp_path / "stack.npy"), f"{s3_bucket}/npy/stack.npy")
    source = open_source(f"s3://{s3_bucket}/npy/stack.npy", storage_options=s3_options, axes="zyx")
    np.testing.assert_array_equal(source.data.compute(), data)
    np.testing.assert_array_equal(source.data[1, 10:20, 5:9].compute(), data[1, 10:20, 5:9])


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    fortran=st.booleans(),
    data=st.data(),
)
def test_contiguous_reader_matches_numpy_indexing(shape: list[int], fortran: bool, data: st.DataObject) -> None:
    import tempfile

    from converters._io import ContiguousArray
    from ngffstore.storage import Location

    array = _ramp(tuple(shape)).astype(">u2")
    key = tuple(
        data.draw(
            st.one_of(
                st.integers(-n, n - 1),
                st.builds(slice, st.none() | st.integers(-n - 1, n + 1), st.none() | st.integers(-n - 1, n + 1),
                          st.sampled_from([None, 1, 2, -1, -3])),
            )
        )
        for n in shape
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "raw.bin"
        path.write_bytes(b"header" + array.tobytes(order="F" if fortran else "C"))
        reader = ContiguousArray(Location(str(path), {}), 6, array.shape, array.dtype, fortran_order=fortran)
        got = reader[key]
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, array[key])


def test_npy_truncated(tmp_path: Path) -> None:
    np.save(tmp_path / "whole.npy", _ramp((100, 100)))
    whole = (tmp_path / "whole.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="cut.npy"):
        open_source(tmp_path / "cut.npy")


def test_npy_object_dtype(tmp_path: Path) -> None:
    np.save(tmp_path / "objects.npy", np.array([[{}, None]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="objects.npy"):
        open_source(tmp_path / "objects.npy")


def test_npy_text_renamed(tmp_path: Path) -> None:
    (tmp_path / "notes.npy").write_text("hello")
    with pytest.raises(InputError, match="not a valid NumPy .npy file"):
        open_source(tmp_path / "notes.npy")


# -- Zarr ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_array(tmp_path: Path, zarr_format: int) -> None:
    data = _ramp((3, 40, 50))
    array = zarr.create_array(
        tmp_path / "a.zarr",
        shape=data.shape,
        chunks=(1, 20, 25),
        dtype=data.dtype,
        zarr_format=zarr_format,
    )
    array[:] = data
    source = open_source(tmp_path / "a.zarr", axes="zyx")
    assert (source.axes, source.name) == ("zyx", "a")
    assert source.data.chunksize == (1, 20, 25)
    np.testing.assert_array_equal(source.data.compute(), data)


def test_zarr_sharded_array_chunks_are_shards(tmp_path: Path) -> None:
    data = _ramp((40, 60))
    array = zarr.create_array(
        tmp_path / "s.zarr", shape=data.shape, chunks=(10, 10), shards=(20, 30), dtype=data.dtype
    )
    array[:] = data
    source = open_source(tmp_path / "s.zarr")
    assert source.data.chunksize == (20, 30)
    np.testing.assert_array_equal(source.data.compute(), data)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_dimension_names_give_axes(tmp_path: Path, zarr_format: int) -> None:
    data = _ramp((20, 30, 2))
    names = ["Y", "X", "C"]
    if zarr_format == 3:
        array = zarr.create_array(
            tmp_path / "n.zarr", shape=data.shape, dtype=data.dtype, dimension_names=names
        )
    else:
        array = zarr.create_array(
            tmp_path / "n.zarr",
            shape=data.shape,
            dtype=data.dtype,
            zarr_format=2,
            attributes={"_ARRAY_DIMENSIONS": names},
        )
    array[:] = data
    source = open_source(tmp_path / "n.zarr")
    assert source.axes == "cyx"
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(data, -1, 0))


def test_zarr_pyramid_level_is_named_after_image(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "cells.zarr", mode="w")
    group.create_array("0", shape=(10, 10), dtype="uint8")[:] = 1
    source = open_source(tmp_path / "cells.zarr" / "0")
    assert source.name == "cells"


def test_zarr_group_is_refused_with_a_hint(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "g.zarr", mode="w")
    group.create_array("0", shape=(10, 10), dtype="uint8")
    with pytest.raises(InputError) as error:
        open_source(tmp_path / "g.zarr")
    text = str(error.value)
    assert "is a Zarr group, not an array" in text
    assert str(tmp_path / "g.zarr" / "0") in text


def test_zarr_big_endian_v2_becomes_native(tmp_path: Path) -> None:
    data = _ramp((10, 12)).astype(">u2")
    array = zarr.create_array(
        tmp_path / "be.zarr", shape=data.shape, dtype=data.dtype, zarr_format=2
    )
    array[:] = data
    source = open_source(tmp_path / "be.zarr")
    assert source.data.dtype.isnative
    np.testing.assert_array_equal(source.data.compute(), data)


def test_zarr_file_url(tmp_path: Path) -> None:
    data = _ramp((10, 12))
    zarr.create_array(tmp_path / "u.zarr", shape=data.shape, dtype=data.dtype)[:] = data
    source = open_source(f"file://{tmp_path / 'u.zarr'}")
    np.testing.assert_array_equal(source.data.compute(), data)


def test_zarr_on_s3_with_storage_options(s3_bucket: str, s3_options: dict) -> None:
    data = _ramp((2, 16, 20))
    url = f"s3://{s3_bucket}/arrays/stack.zarr"
    store = zarr.storage.FsspecStore.from_url(url, storage_options=s3_options)
    zarr.create_array(
        store,
        shape=data.shape,
        chunks=(1, 8, 20),
        dtype=data.dtype,
        dimension_names=["z", "y", "x"],
    )[:] = data
    source = open_source(url, storage_options=s3_options)
    assert (source.axes, source.name) == ("zyx", "stack")
    np.testing.assert_array_equal(source.data.compute(), data)


def test_zarr_series_is_refused(tmp_path: Path) -> None:
    zarr.create_array(tmp_path / "a.zarr", shape=(4, 4), dtype="uint8")
    with pytest.raises(InputError, match="--series"):
        open_source(tmp_path / "a.zarr", series=2)


# -- the axes rule -------------------------------------------------------------------------------


@st.composite
def _labelled_shapes(draw: st.DrawFn) -> tuple[str, tuple[int, ...]]:
    letters = draw(st.sets(st.sampled_from("tcz"))) | {"y", "x"}
    axes = "".join(draw(st.permutations(sorted(letters))))
    shape = tuple(draw(st.integers(1, 4)) for _ in axes)
    return axes, shape


@settings(max_examples=60, deadline=None)
@given(_labelled_shapes())
def test_apply_axes_transposes_to_canonical_order(case: tuple[str, tuple[int, ...]]) -> None:
    axes, shape = case
    data = np.arange(int(np.prod(shape))).reshape(shape)
    result, canonical = apply_axes(da.from_array(data, chunks=2), axes.upper(), "test")
    assert canonical == "".join(a for a in "tczyx" if a in axes)
    expected = np.transpose(data, [axes.index(a) for a in canonical])
    np.testing.assert_array_equal(result.compute(), expected)
