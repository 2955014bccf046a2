"""Whole-slide TIFFs (Aperio SVS, Hamamatsu NDPI, generic pyramids) -> Source -> OME-Zarr.

The slides are written here with tifffile in the vendors' layouts (Aperio image description with
MPP, JPEG tiles, a reduced level, thumbnail, label and macro images; NDPI tags and centimeter
resolution) and read back through the converter, through the CLI, and through OpenSlide as an
independent reader when it is installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import converters
from ngffstore.attachments import list_attachments, read_attachment
from ngffstore.cli import main
from ngffstore.errors import InputError

MPP = 0.499


def smooth_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB picture (JPEG keeps it within a few grey levels) with some structure."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = np.random.default_rng(seed).uniform(0, 6, 3)
    planes = [127 + 100 * np.sin(x / (23 + 7 * i) + phase[i]) * np.cos(y / (31 + 5 * i)) for i in range(3)]
    return np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)


def write_svs(
    path: Path,
    level0: np.ndarray,
    *,
    compression: str = "jpeg",
    label: np.ndarray | None = None,
    macro: np.ndarray | None = None,
) -> None:
    """An Aperio-like SVS: tiled level 0, stripped thumbnail, tiled reduced level, label, macro."""
    h, w = level0.shape[:2]
    desc = (
        f"Aperio Image Library v12.0.15 \r\n{w}x{h} [0,100 {w}x{h}] (256x256) JPEG/RGB Q=90"
        f"|AppMag = 20|StripeWidth = 2040|ScanScope ID = SS1234|Filename = slide1"
        f"|Date = 03/12/24|Time = 10:11:12|MPP = {MPP}"
    )
    common = {"photometric": "rgb", "metadata": None}
    with tifffile.TiffWriter(path) as t:
        t.write(level0, tile=(256, 256), compression=compression, description=desc, **common)
        thumb = level0[::8, ::8]
        t.write(thumb, compression="jpeg", description=f"Aperio Image Library v12.0.15 \r\n{w}x{h} -> "
                f"{thumb.shape[1]}x{thumb.shape[0]} - |AppMag = 20|MPP = {MPP}", **common)
        t.write(level0[::4, ::4], tile=(256, 256), compression=compression,
                description=f"Aperio Image Library v12.0.15 \r\n{w}x{h} -> {w // 4}x{h // 4}", **common)
        if label is not None:
            t.write(label, compression="lzw", subfiletype=1, description="Aperio Image Library label", **common)
        if macro is not None:
            t.write(macro, compression="jpeg", subfiletype=9, description="Aperio Image Library macro", **common)


def write_ndpi_like(path: Path, level0: np.ndarray, macro: np.ndarray, um_per_pixel: float = 0.25) -> None:
    """NDPI tags (format flag, magnification, Make/Model) on JPEG levels and a macro image.

    Real NDPI files use 64-bit IFD offsets that tifffile reads but does not write; this classic
    TIFF carries the same tags and layout otherwise (tifffile reads it as NDPI).
    """
    def tags(magnification: float) -> list:
        return [(65420, "I", 1, 1, True), (65421, "f", 1, magnification, True),
                (271, "s", 0, "Hamamatsu", True), (272, "s", 0, "C13210", True)]

    with tifffile.TiffWriter(path) as t:
        for level in range(3):
            a = level0[:: 2**level, :: 2**level]
            res = 1e4 / (um_per_pixel * 2**level)  # pixels per centimeter
            t.write(a, photometric="rgb", compression="jpeg", resolution=(res, res),
                    resolutionunit="CENTIMETER", extratags=tags(20.0), metadata=None,
                    software="NDP.scan", rowsperstrip=a.shape[0])
        t.write(macro, photometric="rgb", compression="jpeg", extratags=tags(-1.0), metadata=None,
                software="NDP.scan", rowsperstrip=macro.shape[0])


@pytest.fixture(scope="module")
def svs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    path = tmp_path_factory.mktemp("svs") / "slide.svs"
    level0 = smooth_rgb(700, 900)
    label = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    macro = smooth_rgb(50, 150, seed=2)
    write_svs(path, level0, label=label, macro=macro)
    return path, level0, label, macro


def test_svs_source(svs) -> None:
    path, level0, label, _ = svs
    source = converters.open_source(path)
    assert source.axes == "cyx" and source.data.shape == (3, 700, 900)
    assert source.scale == {"y": MPP, "x": MPP} and source.units == {"y": "micrometer", "x": "micrometer"}
    assert source.channel_colors == ["FF0000", "00FF00", "0000FF"]
    assert source.channel_windows == [(0.0, 255.0)] * 3
    assert source.metadata["objective_magnification"] == 20
    assert source.metadata["scanner_id"] == "SS1234"
    assert source.metadata["slide_format"] == "svs"
    # chunks are whole 256-pixel tiles: each tile is decoded once
    assert all(c % 256 == 0 for c in source.data.chunks[1][:-1] + source.data.chunks[2][:-1])
    got = source.data.compute()
    decoded = tifffile.imread(path, series=0, level=0)
    np.testing.assert_array_equal(got, np.moveaxis(decoded, -1, 0))
    assert np.abs(got.astype(int) - np.moveaxis(level0, -1, 0)).mean() < 2.0  # JPEG Q=90
    names = {a.name: a for a in source.attachments}
    assert set(names) == {"thumbnail", "label", "macro"}
    np.testing.assert_array_equal(names["label"].data.compute(), label)  # LZW: lossless


def test_svs_cli_stores_pixels_sizes_windows_attachments(svs, tmp_path: Path, capsys) -> None:
    path, _, label, _ = svs
    out = tmp_path / "slide.ome.zarr"
    code = main(["convert", str(path), str(out), "--min-size", "128"])
    assert code == 0, capsys.readouterr().err
    group = zarr.open_group(str(out), mode="r")
    ome = group.attrs["ome"]
    stored = np.asarray(group["0"])
    np.testing.assert_array_equal(stored, np.moveaxis(tifffile.imread(path, series=0, level=0), -1, 0))
    scale = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == [1.0, MPP, MPP]
    channels = ome["omero"]["channels"]
    assert [c["color"] for c in channels] == ["FF0000", "00FF00", "0000FF"]
    assert [(c["window"]["start"], c["window"]["end"]) for c in channels] == [(0, 255)] * 3
    described = list_attachments(str(out))
    assert set(described) == {"thumbnail", "label", "macro"}
    assert described["label"].shape == (60, 80, 3)
    np.testing.assert_array_equal(read_attachment(str(out), "label"), label)
    got_macro = read_attachment(str(out), "macro")
    np.testing.assert_array_equal(got_macro, tifffile.imread(path, series=3))
    assert (out / "attachments" / "label.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "attachments" / "zarr.json").exists()
    ops = [r["operation"] for r in group.attrs["ngffstore"]["provenance"]]
    assert ops[0] == "write_image" and "write_attachments" in ops


def test_svs_lzw_tiles_are_exact(tmp_path: Path) -> None:
    level0 = np.random.default_rng(3).integers(0, 256, (300, 520, 3), dtype=np.uint8)
    path = tmp_path / "lzw.svs"
    write_svs(path, level0, compression="lzw")
    source = converters.open_source(path)
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(level0, -1, 0))
    assert source.attachments[0].name == "thumbnail"


def test_ndpi_like(tmp_path: Path) -> None:
    level0 = smooth_rgb(400, 600, seed=4)
    macro = smooth_rgb(40, 120, seed=5)
    path = tmp_path / "slide.tif"
    write_ndpi_like(path, level0, macro)
    source = converters.open_source(path)
    assert source.metadata["slide_format"] == "ndpi"
    assert source.metadata["objective_magnification"] == 20.0
    assert source.metadata["scanner_model"] == "C13210"
    assert source.scale == pytest.approx({"y": 0.25, "x": 0.25})
    assert source.data.shape == (3, 400, 600)
    assert np.abs(source.data.compute().astype(int) - np.moveaxis(level0, -1, 0)).mean() < 2.0
    assert [a.name for a in source.attachments] == ["macro"]
    assert source.attachments[0].data.shape == (40, 120, 3)


def test_generic_pyramidal_rgb_tiff(tmp_path: Path) -> None:
    level0 = smooth_rgb(512, 512, seed=6)
    path = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(path) as t:
        t.write(level0, subifds=1, tile=(128, 128), photometric="rgb", compression="lzw",
                resolution=(1 / 0.5, 1 / 0.5), resolutionunit="MICROMETER", metadata=None)
        t.write(level0[::2, ::2], subfiletype=1, tile=(128, 128), photometric="rgb", compression="lzw")
    source = converters.open_source(path)
    assert source.metadata["slide_format"] == "pyramid"
    assert source.scale == {"y": 0.5, "x": 0.5}
    assert source.channel_windows == [(0.0, 255.0)] * 3
    assert source.attachments == []
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(level0, -1, 0))


def test_other_series_of_a_slide(svs) -> None:
    path, _, label, _ = svs
    source = converters.open_source(path, series=2)  # the label as an image of its own
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(label, -1, 0))
    assert source.attachments == [] and source.channel_windows is None


def test_openslide_reads_the_same_pixels(svs) -> None:
    openslide = pytest.importorskip("openslide")
    path, *_ = svs
    source = converters.open_source(path)
    with openslide.OpenSlide(str(path)) as slide:
        assert slide.properties["openslide.mpp-x"] == str(MPP)
        region = np.asarray(slide.read_region((0, 0), 0, slide.dimensions))[..., :3]
        assert set(slide.associated_images) >= {"label", "macro", "thumbnail"}
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(region, -1, 0))


def _strip_quantization_tables(path: Path) -> None:
    """Turn every DQT segment of level 0's JPEG tiles into an APP segment, in place."""
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        spans = list(zip(page.dataoffsets, page.databytecounts))
    with open(path, "r+b") as f:
        for offset, count in spans:
            f.seek(offset)
            tile = bytearray(f.read(count))
            i = 2
            while i + 4 <= len(tile) and tile[i] == 0xFF and tile[i + 1] != 0xDA:
                if tile[i + 1] == 0xDB:
                    tile[i + 1] = 0xE9  # APP9: skipped by decoders
                i += 2 + int.from_bytes(tile[i + 2 : i + 4], "big")
            f.seek(offset)
            f.write(tile)


def test_undecodable_tiles_fail_before_writing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "broken.svs"
    write_svs(path, smooth_rgb(300, 300))
    _strip_quantization_tables(path)
    with pytest.raises(InputError) as error:
        converters.open_source(path)
    message = str(error.value)
    assert "cannot decode the tiles" in message and "\n" not in message
    out = tmp_path / "broken.ome.zarr"
    assert main(["convert", str(path), str(out)]) != 0
    err = capsys.readouterr().err
    assert "cannot decode the tiles" in err and "Traceback" not in err
    assert not out.exists()


def test_unknown_series_of_a_slide(svs, capsys, tmp_path: Path) -> None:
    path, *_ = svs
    out = tmp_path / "x.ome.zarr"
    assert main(["convert", str(path), str(out), "--series", "9"]) != 0
    err = capsys.readouterr().err
    assert "no series 9" in err and "Baseline" in err and "Traceback" not in err
    assert not out.exists()


# -- level 0 read tile by tile ----------------------------------------------------------------


def _abbreviated_jpeg_tiles(image: np.ndarray, tile: int) -> tuple[list[bytes], bytes]:
    """JPEG tiles of ``image`` without their tables, and the shared JPEGTables (as Aperio writes)."""
    import imagecodecs

    tables: bytes | None = None
    tiles = []
    h, w = image.shape[:2]
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            piece = np.zeros((tile, tile, 3), np.uint8)
            part = image[y : y + tile, x : x + tile]
            piece[: part.shape[0], : part.shape[1]] = part
            stream = bytes(imagecodecs.jpeg8_encode(piece, level=90, colorspace="rgb", outcolorspace="ycbcr"))
            i, kept, found = 2, [b"\xff\xd8"], []
            while stream[i + 1] != 0xDA:  # segments up to the start of scan
                end = i + 2 + int.from_bytes(stream[i + 2 : i + 4], "big")
                (found if stream[i + 1] in (0xDB, 0xC4) else kept).append(stream[i:end])
                i = end
            these = b"\xff\xd8" + b"".join(found) + b"\xff\xd9"
            assert tables in (None, these)  # one quality, standard Huffman tables: shared
            tables = these
            tiles.append(b"".join(kept) + stream[i:])
    assert tables is not None
    return tiles, tables


@pytest.fixture(scope="module")
def svs_with_tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SVS whose JPEG tiles share one JPEGTables tag (tiles alone cannot be decoded)."""
    path = tmp_path_factory.mktemp("tables") / "tables.svs"
    level0 = smooth_rgb(600, 730, seed=8)  # 3 x 3 tiles, partial at the bottom and right
    tiles, tables = _abbreviated_jpeg_tiles(level0, 256)
    desc = "Aperio Image Library v12.0.15 \r\n730x600 [0,100 730x600] (256x256) JPEG/RGB Q=90|MPP = 0.25"
    with tifffile.TiffWriter(path) as t:
        t.write(iter(tiles), shape=level0.shape, dtype=np.uint8, tile=(256, 256), compression="jpeg",
                photometric="rgb", jpegtables=tables, description=desc, metadata=None)
    with tifffile.TiffFile(path) as tf:
        assert tf.pages[0].jpegtables is not None
    return path


REGIONS = [
    (slice(0, 600), slice(0, 730)),  # everything
    (slice(200, 300), slice(250, 520)),  # across tile borders in y and x
    (slice(255, 257), slice(511, 513)),  # the corner of four tiles
    (slice(500, 600), slice(700, 730)),  # inside the bottom-right edge tile
    (slice(512, 600), slice(0, 730)),  # the last row of (partial) tiles
    (slice(3, 4), slice(729, 730)),  # one pixel of a partial tile
]


@pytest.mark.parametrize("region", REGIONS, ids=[f"{r[0].start}-{r[1].start}" for r in REGIONS])
def test_tile_reader_returns_tifffiles_pixels(svs_with_tables: Path, region) -> None:
    from converters._tiles import TileArray
    from converters.tiff import TiffArray
    from ngffstore.storage import Location

    decoded = tifffile.imread(svs_with_tables, series=0, level=0)  # tifffile's own decoding
    with tifffile.TiffFile(svs_with_tables) as tf:
        shape = tf.series[0].get_shape(False)  # what the converter hands the readers
    location = Location.parse(str(svs_with_tables), None)
    lead = (0,) * (len(shape) - 3)
    planar = TileArray(location, 0, shape, np.uint8, planar=True)
    interleaved = TileArray(location, 0, shape, np.uint8)
    zarr_store = TiffArray(location, 0, shape, np.uint8)
    y, x = region
    want = decoded[y, x]
    np.testing.assert_array_equal(interleaved[(*lead, y, x)], want)
    np.testing.assert_array_equal(planar[(*lead, slice(None), y, x)], np.moveaxis(want, -1, 0))
    np.testing.assert_array_equal(planar[(*lead, slice(1, 3), y, x)], np.moveaxis(want[..., 1:3], -1, 0))
    np.testing.assert_array_equal(zarr_store[(*lead, y, x)], want)


def test_tile_reader_decodes_each_tile_once(svs_with_tables: Path, monkeypatch) -> None:
    from converters import _tiles

    decoded: list[int] = []
    real = _tiles._TileReader._read_tiles

    def counting(self, tiles, plane, region):
        decoded.extend(tiles)
        return real(self, tiles, plane, region)

    monkeypatch.setattr(_tiles._TileReader, "_read_tiles", counting)
    source = converters.open_source(svs_with_tables)
    assert source.axes == "cyx" and source.data.shape == (3, 600, 730)
    assert source.data.dask.layers.keys() == {
        k for k in source.data.dask.layers if k.startswith(("original-tifftiles", "tifftiles"))
    }  # planar at the source: no transpose in the graph
    decoded.clear()
    got = source.data.compute()
    assert sorted(decoded) == list(range(9))
    np.testing.assert_array_equal(got, np.moveaxis(tifffile.imread(svs_with_tables), -1, 0))


@pytest.mark.parametrize("dtype", [">u2", "<f4"])
def test_tile_reader_single_sample_and_byte_order(tmp_path: Path, dtype: str) -> None:
    data = np.random.default_rng(9).integers(0, 60000, (70, 100)).astype(dtype)
    path = tmp_path / "grey.tif"
    tifffile.imwrite(path, data, tile=(32, 48), compression="zlib", byteorder=dtype[0])
    source = converters.open_source(path)
    assert "tifftiles" in next(iter(source.data.dask.layers))
    assert source.axes == "yx"
    np.testing.assert_array_equal(source.data[10:65, 40:99].compute(), data[10:65, 40:99])
    np.testing.assert_array_equal(source.data.compute(), data)


def test_tile_reader_on_s3(svs_with_tables: Path, s3_bucket: str, s3_options: dict) -> None:
    import s3fs

    s3fs.S3FileSystem(**s3_options).put(str(svs_with_tables), f"{s3_bucket}/slides/tables.svs")
    source = converters.open_source(f"s3://{s3_bucket}/slides/tables.svs", storage_options=s3_options)
    assert "tifftiles" in next(iter(source.data.dask.layers))
    decoded = np.moveaxis(tifffile.imread(svs_with_tables), -1, 0)
    np.testing.assert_array_equal(source.data[:, 200:590, 250:730].compute(), decoded[:, 200:590, 250:730])


def test_strip_chunks_are_whole_tiles_of_the_writers_strips() -> None:
    from converters._io import strip_chunks

    # 1024 rows x 4096 columns: one strip of the pyramid writer's first pass
    assert strip_chunks("SYX", (3, 20000, 20000), (3, 256, 256), 1) == (3, 1024, 4096)
    # tiles that do not divide 1024: whole tiles, at most 1024 x 4096
    assert strip_chunks("SYX", (3, 5000, 9000), (3, 240, 240), 1) == (3, 960, 4080)
    assert strip_chunks("YXS", (700, 900, 3), (256, 256, 3), 1) == (700, 900, 3)  # the image
    assert strip_chunks("YX", (5000, 5000), (2048, 2048), 1) == (2048, 4096)  # one tile high
    # wide pixels: narrower, at most STRIP_MAX_BYTES (32 MiB)
    assert strip_chunks("SYX", (3, 20000, 20000), (3, 256, 256), 8) == (3, 1024, 1024)
    assert strip_chunks("TCZYX", (2, 3, 4, 9000, 9000), (1, 3, 1, 1024, 1024), 1) == (1, 3, 1, 1024, 4096)


def test_slide_chunks_are_strips(tmp_path: Path) -> None:
    level0 = smooth_rgb(1100, 4700)
    path = tmp_path / "wide.svs"
    write_svs(path, level0)
    source = converters.open_source(path)
    assert source.data.chunks == ((3,), (1024, 76), (4096, 604))
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(tifffile.imread(path, series=0, level=0), -1, 0))
