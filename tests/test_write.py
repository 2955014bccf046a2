"""write_image: exact pyramids, NGFF metadata read by other clients, resume, overwrite, schedulers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ngffstore
from converters.base import Source
from ngffstore import multiscale
from ngffstore.demo import samples
from ngffstore.errors import AxesError, InputError, NotNgffError, OutputExistsError


def reference_mean(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Independent reference: mean over the pixels that exist in each 2-window, rounded half up."""
    out = a.astype(np.float64)
    for ax in axes:
        n = out.shape[ax]
        m = -(-n // 2)
        summed = np.zeros(out.shape[:ax] + (m,) + out.shape[ax + 1 :])
        count = np.zeros(m)
        for off in (0, 1):
            part = np.take(out, np.arange(off, n, 2), axis=ax)
            k = part.shape[ax]
            idx = [slice(None)] * out.ndim
            idx[ax] = slice(0, k)
            summed[tuple(idx)] += part
            count[:k] += 1
        shape = [1] * out.ndim
        shape[ax] = m
        out = summed / count.reshape(shape)
    return out


def levels_of(url: str) -> list[np.ndarray]:
    group = zarr.open_group(url, mode="r")
    attrs = group.attrs.asdict()
    block = attrs.get("ome", attrs)
    return [np.asarray(group[ds["path"]][...]) for ds in block["multiscales"][0]["datasets"]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    h=st.integers(1, 140),
    w=st.integers(1, 140),
    chunk=st.sampled_from([4, 7, 16, 33]),
    target=st.sampled_from([64, 512, 4096, 1 << 20]),
    seed=st.integers(0, 2**16),
)
def test_mean_pyramid_is_exact_and_seamless(tmp_path_factory, h, w, chunk, target, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 65536, size=(h, w), dtype=np.uint16)
    url = str(tmp_path_factory.mktemp("p") / "img.zarr")
    ngffstore.write_image(a, url, chunks=chunk, min_size=4, memory_target=target, progress=False)
    levels = levels_of(url)
    assert np.array_equal(levels[0], a)
    expected = a.astype(np.float64)
    for level in levels[1:]:
        # every level is the rounded mean of the stored level before it
        prev = expected
        expected = np.floor(reference_mean(np.rint(prev), (0, 1)) + 0.5)
        assert level.shape == expected.shape
        assert np.array_equal(level, expected.astype(np.uint16))
    assert max(levels[-1].shape) <= 4


def test_levels_scales_and_metadata(tmp_path):
    a = np.zeros((3, 5, 1000, 700), dtype=np.uint8)
    url = str(tmp_path / "img.zarr")
    summary = ngffstore.write_image(
        a, url, axes="czyx", scale="2,0.5,0.5", units={"z": "µm", "y": "µm", "x": "um"},
        channels=["DAPI", "GFP", "RFP"], min_size=256, progress=False,
    )
    assert [lv.shape for lv in summary.levels] == [(3, 5, 1000, 700), (3, 5, 500, 350), (3, 5, 250, 175)]
    assert [lv.scale for lv in summary.levels] == [(1, 2, 0.5, 0.5), (1, 2, 1, 1), (1, 2, 2, 2)]
    assert summary.units == {"z": "micrometer", "y": "micrometer", "x": "micrometer"}
    assert summary.channels == ("DAPI", "GFP", "RFP")
    doc = json.loads(Path(os.path.join(url, "zarr.json")).read_text())
    ome = doc["attributes"]["ome"]
    assert ome["version"] == "0.5"
    assert [c["color"] for c in ome["omero"]["channels"]] == ["0000FF", "00FF00", "FF0000"]
    assert all("window" in c for c in ome["omero"]["channels"])
    arr = json.loads(Path(os.path.join(url, "0", "zarr.json")).read_text())
    assert arr["dimension_names"] == ["c", "z", "y", "x"]
    history = doc["attributes"]["ngffstore"]["provenance"]
    assert history[-1]["operation"] == "write_image" and history[-1]["parameters"]["axes"] == "czyx"


def test_axes_are_reordered_to_ngff_order(tmp_path):
    a = np.arange(4 * 30 * 20, dtype=np.uint16).reshape(30, 20, 4)  # y, x, c
    url = str(tmp_path / "img.zarr")
    summary = ngffstore.write_image(a, url, axes="yxc", progress=False)
    assert summary.axes == "cyx"
    assert np.array_equal(levels_of(url)[0], np.moveaxis(a, -1, 0))


def test_downsample_z_on_request(tmp_path):
    a = np.ones((9, 600, 600), dtype=np.uint16)
    s = ngffstore.write_image(a, str(tmp_path / "a.zarr"), axes="zyx", downsample_z=True, progress=False)
    assert [lv.shape[0] for lv in s.levels] == [9, 5, 3]
    s = ngffstore.write_image(a, str(tmp_path / "b.zarr"), axes="zyx", progress=False)
    assert [lv.shape[0] for lv in s.levels] == [9, 9, 9]


@pytest.mark.parametrize("method", ["nearest", "mode", "min", "max"])
def test_other_methods_never_invent_values(tmp_path, method):
    rng = np.random.default_rng(1)
    a = rng.choice(np.array([0, 3, 70, 900], dtype=np.uint32), size=(301, 257))
    url = str(tmp_path / "img.zarr")
    ngffstore.write_image(a, url, method=method, chunks=64, min_size=16, progress=False)
    for level in levels_of(url):
        assert set(np.unique(level)) <= {0, 3, 70, 900}


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "bool"])
def test_dtypes(tmp_path, dtype):
    rng = np.random.default_rng(2)
    a = (rng.random((300, 300)) * 100 - (50 if dtype == "int16" else 0)).astype(dtype)
    url = str(tmp_path / "img.zarr")
    ngffstore.write_image(a, url, min_size=64, progress=False)
    levels = levels_of(url)
    assert levels[1].dtype == np.dtype(dtype)
    if dtype == "float32":
        assert np.allclose(levels[1], reference_mean(a, (0, 1)), rtol=1e-6)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_other_clients_read_the_output(tmp_path, version):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    a = samples.synthetic_cells((2, 700, 600), chunks=256).compute()
    url = str(tmp_path / f"img{version}.zarr")
    ngffstore.write_image(a, url, axes="cyx", scale={"y": 0.2, "x": 0.2}, units={"y": "micrometer", "x": "micrometer"},
                          ngff_version=version, chunks=256, progress=False)
    nodes = list(Reader(parse_url(url))())
    assert np.array_equal(np.asarray(nodes[0].data[0]), a)
    assert len(nodes[0].data) == 3
    if version == "0.5":
        from ome_zarr_models.v05.image import Image
    else:
        from ome_zarr_models.v04.image import Image
    Image.from_zarr(zarr.open_group(url, mode="r"))  # raises on invalid metadata
    if version == "0.4":
        assert os.path.exists(os.path.join(url, "0", "0", "0", "0"))  # nested "/" chunk keys


def test_shards(tmp_path):
    a = np.random.default_rng(3).integers(0, 1000, (1100, 900), dtype=np.uint16)
    url = str(tmp_path / "img.zarr")
    s = ngffstore.write_image(a, url, chunks=128, shards=512, min_size=128, memory_target=1 << 16, progress=False)
    assert s.levels[0].shards == (512, 512) and s.levels[0].chunks == (128, 128)
    assert np.array_equal(levels_of(url)[0], a)
    assert np.array_equal(levels_of(url)[1], np.floor(reference_mean(a, (0, 1)) + 0.5).astype(np.uint16))


def test_dask_input_is_streamed_not_loaded(tmp_path):
    a = samples.synthetic_cells((1, 1500, 1300), chunks=300)
    url = str(tmp_path / "img.zarr")
    ngffstore.write_image(a, url, axes="cyx", chunks=256, memory_target=1 << 18, progress=False)
    assert np.array_equal(levels_of(url)[0], a.compute())


def _source(tmp_path, a):
    path = str(tmp_path / "input.npy")
    np.save(path, a)
    return Source(data=da.from_array(np.load(path, mmap_mode="r"), chunks=(64, 64)), axes="yx", inputs=[path], name="input")


def test_interrupted_write_never_reads_complete_and_resumes(tmp_path, monkeypatch):
    a = np.random.default_rng(4).integers(0, 4000, (512, 512), dtype=np.uint16)
    url = str(tmp_path / "img.zarr")
    calls = {"n": 0}
    real = multiscale.write_block

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(multiscale, "write_block", failing)
    with pytest.raises(RuntimeError):
        ngffstore.write_image(_source(tmp_path, a), url, chunks=32, min_size=32, memory_target=32 * 32 * 2 * 4,
                              scheduler="synchronous", progress=False)
    with pytest.raises(NotNgffError):
        ngffstore.image_info(url)  # the node has no NGFF metadata yet
    done_before = len(multiscale.done_blocks(ngffstore.Location.parse(url)))
    assert done_before == 5

    monkeypatch.setattr(multiscale, "write_block", real)
    counted = {"n": 0}

    def counting(*args, **kwargs):
        counted["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(multiscale, "write_block", counting)
    ngffstore.write_image(_source(tmp_path, a), url, chunks=32, min_size=32, memory_target=32 * 32 * 2 * 4,
                          scheduler="synchronous", progress=False)
    levels = levels_of(url)
    assert np.array_equal(levels[0], a)
    assert np.array_equal(levels[1], np.floor(reference_mean(a, (0, 1)) + 0.5).astype(np.uint16))
    total_blocks = counted["n"] + done_before
    assert counted["n"] == total_blocks - 5  # the finished blocks were not redone
    assert not os.path.exists(os.path.join(url, multiscale.PROGRESS_DIR))


def test_existing_output_needs_overwrite_and_is_left_intact(tmp_path):
    url = str(tmp_path / "img.zarr")
    a = np.ones((300, 300), dtype=np.uint8)
    ngffstore.write_image(a, url, progress=False)
    before = json.loads(Path(os.path.join(url, "zarr.json")).read_text())
    with pytest.raises(OutputExistsError, match="overwrite"):
        ngffstore.write_image(a * 2, url, progress=False)
    assert json.loads(Path(os.path.join(url, "zarr.json")).read_text()) == before
    assert levels_of(url)[0].max() == 1
    ngffstore.write_image(a * 2, url, overwrite=True, progress=False)
    assert levels_of(url)[0].max() == 2


def test_bad_input_is_refused_before_anything_is_written(tmp_path):
    url = str(tmp_path / "img.zarr")
    with pytest.raises(AxesError, match="axes"):
        ngffstore.write_image(np.zeros((4, 30, 30)), url)
    with pytest.raises(AxesError):
        ngffstore.write_image(np.zeros((30, 30)), url, axes="zyx")
    with pytest.raises(InputError, match="not supported"):
        ngffstore.write_image(np.zeros((30, 30), dtype=complex), url)
    with pytest.raises(InputError, match="Zarr v3"):
        ngffstore.write_image(np.zeros((30, 30)), url, shards=64, ngff_version="0.4")
    with pytest.raises(InputError, match="multiple"):
        ngffstore.write_image(np.zeros((300, 300)), url, chunks=64, shards=100)
    with pytest.raises(InputError, match="compression"):
        ngffstore.write_image(np.zeros((30, 30)), url, compression="lzw")
    with pytest.raises(InputError, match="channel"):
        ngffstore.write_image(np.zeros((2, 30, 30)), url, axes="cyx", channels=["a"])
    assert not os.path.exists(url)


@pytest.mark.parametrize("scheduler", ["processes", "distributed"])
def test_parallel_schedulers_give_identical_output(tmp_path, scheduler):
    a = samples.synthetic_cells((2, 600, 520), chunks=200)
    ref = str(tmp_path / "ref.zarr")
    ngffstore.write_image(a, ref, axes="cyx", chunks=128, memory_target=1 << 17, scheduler="synchronous", progress=False)
    url = str(tmp_path / "par.zarr")
    if scheduler == "distributed":
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
            ngffstore.write_image(a, url, axes="cyx", chunks=128, memory_target=1 << 17,
                                  scheduler=cluster.scheduler_address, progress=False)
    else:
        ngffstore.write_image(a, url, axes="cyx", chunks=128, memory_target=1 << 17, scheduler=scheduler, progress=False)
    for x, y in zip(levels_of(ref), levels_of(url)):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "uint8", "uint32"])
@pytest.mark.parametrize("factors", [(2, 2), (1, 2), (2, 1)])
def test_integer_mean_rounds_half_up_also_below_zero(dtype, factors):
    from ngffstore.pyramid import downsample

    info = np.iinfo(dtype)
    rng = np.random.default_rng(7)
    a = rng.integers(max(info.min, -1000), min(info.max, 1000), size=(37, 42), endpoint=True).astype(dtype)
    axes = tuple(i for i, f in enumerate(factors) if f == 2)
    expected = np.floor(reference_mean(a, axes) + 0.5).astype(dtype)
    assert np.array_equal(downsample(a, factors, "mean"), expected)


@settings(max_examples=80, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=2, max_size=4),
    data=st.data(),
    dtype=st.sampled_from(["uint8", "int16", "uint16", "int32", "float32", "bool"]),
    contiguous=st.booleans(),
)
def test_mean_of_any_block_matches_the_reference(shape, data, dtype, contiguous):
    from ngffstore import pyramid
    from ngffstore.pyramid import downsample

    factors = tuple(data.draw(st.sampled_from([1, 2])) for _ in shape)
    rng = np.random.default_rng(len(shape) * 31 + sum(shape))
    a = rng.integers(-300 if dtype in ("int16", "int32") else 0, 256 if dtype == "uint8" else 3000, size=shape)
    a = (a % 2).astype(bool) if dtype == "bool" else a.astype(dtype)
    if not contiguous:
        a = np.asfortranarray(a)
    axes = tuple(i for i, f in enumerate(factors) if f == 2)
    ref = reference_mean(a.astype(np.float64), axes) if axes else a.astype(np.float64)
    pyramid._SLAB_BYTES, saved = 64, pyramid._SLAB_BYTES  # many small slabs
    try:
        got = downsample(a, factors, "mean")
    finally:
        pyramid._SLAB_BYTES = saved
    assert got.dtype == a.dtype and got.shape == ref.shape
    if dtype == "bool":
        np.testing.assert_array_equal(got, ref >= 0.5)
    elif dtype == "float32":
        np.testing.assert_allclose(got, ref, rtol=1e-6)
    else:
        np.testing.assert_array_equal(got, np.floor(ref + 0.5).astype(dtype))


def _stored_objects(root: Path) -> dict[str, bytes]:
    """Every chunk object below ``root`` (documents left out: they carry times and paths)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.endswith((".json", ".zarray", ".zattrs", ".zgroup")):
            out[str(path.relative_to(root))] = path.read_bytes()
    return out


@pytest.mark.parametrize(
    ("shape", "axes", "chunks", "target", "kwargs"),
    [
        ((301, 515), "yx", 32, 1 << 16, {}),  # odd edges, strips along y, several passes
        ((2, 5, 70, 90), "czyx", (1, 1, 16, 16), 1 << 16, {}),  # strips along z (planes)
        ((2, 5, 70, 90), "czyx", (1, 2, 16, 16), 1 << 17, {"downsample_z": True}),  # z halved too
        ((128, 70), "yx", 16, 1 << 20, {"method": "mode"}),
        ((3, 64, 64), "cyx", 8, 1 << 12, {"method": "max"}),
    ],
)
def test_strips_store_the_same_bytes_as_whole_blocks(tmp_path, monkeypatch, shape, axes, chunks, target, kwargs):
    """Blocks worked through in strips store every chunk byte for byte as whole blocks do."""
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 4000, size=shape, dtype=np.uint16)
    used = []
    strip_axis = multiscale._strip_axis

    def record(*args):
        used.append(strip_axis(*args))
        return used[-1]

    monkeypatch.setattr(multiscale, "_strip_axis", record)
    ngffstore.write_image(a, str(tmp_path / "strips.zarr"), axes=axes, chunks=chunks, min_size=8,
                          memory_target=target, progress=False, **kwargs)
    assert any(ax is not None for ax in used)  # the case does exercise strips
    monkeypatch.setattr(multiscale, "_strip_axis", lambda *args: None)
    ngffstore.write_image(a, str(tmp_path / "whole.zarr"), axes=axes, chunks=chunks, min_size=8,
                          memory_target=target, progress=False, **kwargs)
    strips, whole = _stored_objects(tmp_path / "strips.zarr"), _stored_objects(tmp_path / "whole.zarr")
    assert strips.keys() == whole.keys() and len(strips) > 4
    assert all(strips[k] == whole[k] for k in strips)


class _CountingReads:
    """An array-like that counts how often each element is read."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.reads = np.zeros(data.shape, dtype=np.int32)

    def __getitem__(self, key):
        self.reads[key] += 1
        return self.data[key]


@pytest.mark.parametrize("whole_chunks", [True, False])
def test_interleaved_samples_are_read_once(tmp_path, whole_chunks):
    """A source whose chunks hold every sample of a pixel (RGB tiles) is read once: blocks keep
    the samples whole even when a block of all of them exceeds the memory target."""
    import dask.array as da

    rng = np.random.default_rng(0)
    src = _CountingReads(rng.integers(0, 256, (3, 1024, 768), dtype=np.uint8))
    chunks = (3, 256, 256) if whole_chunks else (1, 256, 256)
    data = da.from_array(src, chunks=chunks, asarray=False)
    url = str(tmp_path / "rgb.zarr")
    ngffstore.write_image(data, url, axes="cyx", chunks=256, min_size=64, memory_target=2**19, progress=False)
    if whole_chunks:
        assert src.reads.min() == 1 and src.reads.max() == 1
    else:
        assert src.reads.max() == 1  # chunks of one sample: blocks may split c, still read once
    levels = levels_of(url)
    assert np.array_equal(levels[0], src.data)


def test_default_zstd_level_by_data(tmp_path):
    import zarr

    def level(data, **kw):
        url = str(tmp_path / f"l{len(os.listdir(tmp_path))}.zarr")
        ngffstore.write_image(data, url, progress=False, **kw)
        (codec,) = zarr.open_array(os.path.join(url, "0"), mode="r").compressors
        return codec.level

    rgb = np.zeros((3, 64, 64), np.uint8)
    assert level(rgb, axes="cyx") == 1  # 8-bit RGB: bare zstd is level 1
    assert level(rgb, axes="cyx", compression="zstd:3") == 3
    assert level(np.zeros((3, 64, 64), np.uint16), axes="cyx") == 3
    assert level(np.zeros((2, 64, 64), np.uint8), axes="cyx") == 3


def test_negative_translation_is_stored(tmp_path: Path) -> None:
    from ngffstore import open_image, write_image

    url = str(tmp_path / "shifted.zarr")
    write_image(np.zeros((16, 16), np.uint8), url, axes="yx", scale={"y": 0.5, "x": 0.5},
                translation={"y": -3.0, "x": 2.5}, progress=False)
    doc = json.loads((tmp_path / "shifted.zarr" / "zarr.json").read_text())
    level0 = doc["attributes"]["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    assert level0[1] == {"type": "translation", "translation": [-3.0, 2.5]}
    assert open_image(url).levels[0].translation == (-3.0, 2.5)
    with pytest.raises(InputError, match="translation of axis y must be a finite number"):
        write_image(np.zeros((16, 16), np.uint8), str(tmp_path / "nan.zarr"), axes="yx",
                    translation={"y": float("nan")}, progress=False)


@pytest.mark.parametrize("method", ["mean", "mode", "nearest", "min", "max"])
@pytest.mark.parametrize("shape", [(3, 64, 90), (1, 3, 33, 65), (41, 50)])
def test_downsample_into_a_strided_destination(method, shape):
    """``out=`` (a strip of a larger level buffer, not contiguous) gets what a fresh result holds."""
    from ngffstore.pyramid import downsample

    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, size=shape).astype(np.uint8)
    factors = (1,) * (len(shape) - 2) + (2, 2)
    expected = downsample(a, factors, method)
    big = np.full(expected.shape[:-2] + (expected.shape[-2] + 5, expected.shape[-1] + 3), 7, np.uint8)
    target = big[..., 2 : 2 + expected.shape[-2], 1 : 1 + expected.shape[-1]]
    assert downsample(a, factors, method, out=target) is target
    np.testing.assert_array_equal(target, expected)
    assert (big[..., :2, :] == 7).all() and (big[..., 2 + expected.shape[-2] :, :] == 7).all()


@pytest.mark.parametrize("shape", [(3, 512, 1030), (2, 1, 64, 4096), (257, 300)])
def test_packed_8bit_mean_equals_the_general_mean(shape, monkeypatch):
    """The packed-pairs 8-bit 2 x 2 mean (rows summed in 16 bits, column pairs read as 32-bit words)
    gives the general strided path's values on slabs of many rows and odd edges."""
    from ngffstore import pyramid

    a = np.random.default_rng(3).integers(0, 256, size=shape).astype(np.uint8)
    factors = (1,) * (len(shape) - 2) + (2, 2)
    assert pyramid._packed_pairs(np.zeros((4, 4), np.uint8), (2, 2))
    fast = pyramid.downsample(a, factors, "mean")
    monkeypatch.setattr(pyramid, "_packed_pairs", lambda *args: False)
    np.testing.assert_array_equal(fast, pyramid.downsample(a, factors, "mean"))


def test_source_is_freed_when_the_write_returns_without_the_cycle_collector(tmp_path):
    """Nothing of a write (its block closures included) keeps the source alive: a plate writes
    hundreds of fields one after another, each freed at once, not when the collector runs."""
    import gc
    import weakref

    class Pixels(np.ndarray):  # an ndarray that takes weak references
        pass

    a = np.random.default_rng(0).integers(0, 4000, (512, 512), dtype=np.uint16).view(Pixels)
    ref = weakref.ref(a)
    enabled = gc.isenabled()
    gc.disable()
    try:
        ngffstore.write_image(a, str(tmp_path / "f.zarr"), chunks=128, memory_target=1 << 17, progress=False)
        del a
        assert ref() is None
    finally:
        if enabled:
            gc.enable()
