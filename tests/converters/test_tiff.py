"""TIFF, BigTIFF, OME-TIFF and ImageJ inputs, and the bad inputs ``open_source`` must refuse."""

from __future__ import annotations

import pickle
from pathlib import Path

import dask
import numpy as np
import pytest
import tifffile

from converters import SUPPORTED_SUFFIXES, Source, open_source
from converters import tiff as tiff_module
from converters.tiff import layout_chunks
from ngffstore.errors import AxesError, InputError, InputNotFoundError

# ../shared beside the checkout holds samples written by other tools
VIV = Path(__file__).resolve().parents[3] / "shared/testdata/ngff-external/viv/ome-tiff/multi-channel.ome.tif"

OME_XML = """<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">
<Instrument ID="Instrument:0">
  <Microscope Manufacturer="Zeiss" Model="LSM 980"/>
  <Objective ID="Objective:0" Model="Plan-Apochromat 63x/1.40 Oil" NominalMagnification="63"
    LensNA="1.4" Immersion="Oil"/>
  <Objective ID="Objective:1" Model="EC Plan-Neofluar 10x" NominalMagnification="10"
    LensNA="0.3" Immersion="Air"/>
</Instrument>
<Image ID="Image:0" Name="cells">
  <AcquisitionDate>2024-05-06T07:08:09</AcquisitionDate>
  <InstrumentRef ID="Instrument:0"/>
  <ObjectiveSettings ID="Objective:0"/>
  <Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="64" SizeY="48" SizeC="2"
    SizeZ="1" SizeT="1" PhysicalSizeX="0.1" PhysicalSizeY="0.2">
    <Channel ID="Channel:0:0" Name="DAPI" Color="-16776961" ExcitationWavelength="405"
      EmissionWavelength="450" EmissionWavelengthUnit="nm" SamplesPerPixel="1"/>
    <Channel ID="Channel:0:1" Name="GFP" Color="16711935" ExcitationWavelength="0.488"
      ExcitationWavelengthUnit="&#181;m" SamplesPerPixel="1"/>
    <TiffData IFD="0" PlaneCount="2"/>
  </Pixels>
</Image>
</OME>"""


def _ramp(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    return (np.arange(int(np.prod(shape))) % np.iinfo(dtype).max).astype(dtype).reshape(shape)


def _assert_single_line(error: pytest.ExceptionInfo[BaseException], *words: str) -> None:
    text = str(error.value)
    assert "\n" not in text
    for word in words:
        assert word in text


# -- OME-TIFF ------------------------------------------------------------------------------------


def test_ome_tiff_5d_round_trip_with_sizes_and_channels(tmp_path: Path) -> None:
    data = _ramp((2, 3, 4, 40, 50))
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(
        path,
        data,
        metadata={
            "axes": "TCZYX",
            "Name": "my stack",
            "PhysicalSizeX": 0.25,
            "PhysicalSizeY": 0.25,
            "PhysicalSizeZ": 1.5,
            "PhysicalSizeXUnit": "nm",
            "TimeIncrement": 30.0,
            "TimeIncrementUnit": "ms",
            "Channel": {"Name": ["DAPI", "GFP", "RFP"]},
        },
    )
    source = open_source(path)
    assert isinstance(source, Source)
    assert source.axes == "tczyx"
    assert source.data.shape == data.shape
    assert source.data.dtype == np.uint16
    np.testing.assert_array_equal(source.data.compute(), data)
    assert source.scale == {"x": 0.25, "y": 0.25, "z": 1.5, "t": 30.0}
    # PhysicalSizeYUnit is absent: the OME schema's default is micrometer
    assert source.units == {
        "x": "nanometer",
        "y": "micrometer",
        "z": "micrometer",
        "t": "millisecond",
    }
    assert source.channel_names == ["DAPI", "GFP", "RFP"]
    assert source.name == "my stack"
    assert source.inputs == [str(path)]


def test_ome_xml_acquisition_metadata_and_colors(tmp_path: Path) -> None:
    data = _ramp((2, 48, 64))
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, data, photometric="minisblack", description=OME_XML, metadata=None)
    source = open_source(path)
    assert source.axes == "cyx"
    np.testing.assert_array_equal(source.data.compute(), data)
    assert source.name == "cells"
    assert source.channel_names == ["DAPI", "GFP"]
    assert source.channel_colors == ["FF0000", "00FF00"]  # signed 32-bit RGBA
    assert source.scale == {"x": 0.1, "y": 0.2}
    assert source.units == {"x": "micrometer", "y": "micrometer"}
    meta = source.metadata
    assert meta["microscope_manufacturer"] == "Zeiss"
    assert meta["microscope_model"] == "LSM 980"
    assert meta["objective_model"] == "Plan-Apochromat 63x/1.40 Oil"  # the one referenced
    assert meta["objective_nominal_magnification"] == 63.0
    assert meta["objective_lens_na"] == 1.4
    assert meta["objective_immersion"] == "Oil"
    assert meta["acquisition_date"] == "2024-05-06T07:08:09"
    assert meta["channel_0_excitation_wavelength_nm"] == 405.0
    assert meta["channel_0_emission_wavelength_nm"] == 450.0
    assert meta["channel_1_excitation_wavelength_nm"] == pytest.approx(488.0)
    assert "channel_1_emission_wavelength_nm" not in meta


@pytest.mark.parametrize(("names", "axes"), [(["DAPI"], "cyx"), (None, "yx")])
def test_single_channel_kept_only_when_named(
    tmp_path: Path, names: list[str] | None, axes: str
) -> None:
    data = _ramp((1, 1, 1, 32, 48))
    metadata: dict = {"axes": "TCZYX", "PhysicalSizeZ": 2.0}
    if names:
        metadata["Channel"] = {"Name": names}
    tifffile.imwrite(tmp_path / "one.ome.tif", data, metadata=metadata)
    source = open_source(tmp_path / "one.ome.tif")
    assert source.axes == axes
    assert source.channel_names == names
    assert "z" not in source.scale  # z was dropped with its length-1 dimension
    np.testing.assert_array_equal(source.data.compute().reshape(32, 48), data[0, 0, 0])


def test_ome_rgb_samples_become_channels(tmp_path: Path) -> None:
    data = _ramp((2, 32, 40, 3), "uint8")
    tifffile.imwrite(tmp_path / "rgb.ome.tif", data, photometric="rgb", metadata={"axes": "TYXS"})
    source = open_source(tmp_path / "rgb.ome.tif")
    assert source.axes == "tcyx"
    assert source.channel_names == ["R", "G", "B"]
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(data, -1, 1))


def test_viv_multi_channel_big_endian(tmp_path: Path) -> None:
    if not VIV.exists():
        pytest.skip(f"{VIV} is absent")
    source = open_source(VIV)
    assert source.axes == "cyx"
    assert source.data.shape == (3, 167, 439)
    assert source.data.dtype == np.int8
    assert source.data.dtype.isnative
    np.testing.assert_array_equal(source.data.compute(), tifffile.imread(VIV))


# -- layouts: BigTIFF, tiles, strips, compression, pyramids, series ------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"bigtiff": True},
        {"tile": (64, 64)},
        {"tile": (64, 64), "compression": "zlib"},
        {"tile": (32, 64), "compression": "zstd", "bigtiff": True},
        {"rowsperstrip": 16, "compression": "zlib"},
        {"rowsperstrip": 7},
    ],
    ids=[
        "plain",
        "bigtiff",
        "tiled",
        "tiled-zlib",
        "tiled-zstd-bigtiff",
        "strips-zlib",
        "strips-7",
    ],
)
def test_layouts_round_trip(tmp_path: Path, options: dict) -> None:
    data = _ramp((3, 200, 230))
    path = tmp_path / "layout.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": "ZYX"}, **options)
    source = open_source(path)
    assert source.axes == "zyx"
    np.testing.assert_array_equal(source.data.compute(), data)


@pytest.mark.parametrize(
    ("options", "step"),
    [
        ({"tile": (64, 32), "compression": "zlib"}, (64, 32)),
        ({"rowsperstrip": 16, "compression": "zstd"}, (16, 230)),
    ],
)
def test_chunks_are_whole_tiles_or_strips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict, step: tuple[int, int]
) -> None:
    monkeypatch.setattr(tiff_module, "TARGET_CHUNK_BYTES", 3 * 64 * 64 * 2)
    data = _ramp((2, 300, 230))
    path = tmp_path / "chunks.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": "ZYX"}, **options)
    source = open_source(path)
    assert source.data.numblocks[1] > 1  # the small target really splits the plane
    for axis, size in ((1, step[0]), (2, step[1])):
        assert all(c % size == 0 for c in source.data.chunks[axis][:-1])
    np.testing.assert_array_equal(source.data.compute(), data)


def test_contiguous_planes_are_chunked_by_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiff_module, "TARGET_CHUNK_BYTES", 40 * 50 * 2)
    data = _ramp((2, 3, 200, 50))  # ImageJ writes each plane as one uncompressed strip
    tifffile.imwrite(tmp_path / "ij.tif", data, imagej=True, metadata={"axes": "ZCYX"})
    source = open_source(tmp_path / "ij.tif")
    assert source.axes == "czyx"
    assert source.data.chunksize == (1, 1, 32, 50)
    np.testing.assert_array_equal(source.data.compute(), np.swapaxes(data, 0, 1))


@pytest.mark.parametrize("options", [{}, {"tile": (16, 16)}], ids=["contiguous", "tiled"])
def test_big_endian_becomes_native(tmp_path: Path, options: dict) -> None:
    data = _ramp((2, 30, 40)).astype(">u2")
    tifffile.imwrite(tmp_path / "be.tif", data, byteorder=">", metadata={"axes": "ZYX"}, **options)
    source = open_source(tmp_path / "be.tif")
    assert source.data.dtype == np.uint16 and source.data.dtype.isnative
    np.testing.assert_array_equal(source.data.compute(), data)


def test_layout_chunks_grow_by_whole_file_chunks() -> None:
    # tiles of 256x256 uint16 in a 5 x 3000 x 2000 stack, 8 MiB target
    chunks = layout_chunks("ZYX", (5, 3000, 2000), (1, 256, 256), 2, 8 * 2**20)
    assert chunks == (1, 2048, 2000)
    # a small plane: whole planes, stacked along z
    assert layout_chunks("ZYX", (50, 100, 100), (1, 16, 100), 1, 100 * 100 * 10) == (10, 100, 100)
    # the file chunk is bigger than the target: left as it is
    assert layout_chunks("YX", (5000, 5000), (5000, 5000), 2, 2**20) == (5000, 5000)


def test_pyramid_reads_level_zero(tmp_path: Path) -> None:
    data = _ramp((256, 320), "uint8")
    path = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(data, subifds=2, tile=(64, 64), compression="zlib")
        tw.write(data[::2, ::2], subfiletype=1, tile=(64, 64), compression="zlib")
        tw.write(data[::4, ::4], subfiletype=1, tile=(64, 64), compression="zlib")
    source = open_source(path)
    assert source.axes == "yx"
    np.testing.assert_array_equal(source.data.compute(), data)


def test_multi_series(tmp_path: Path) -> None:
    first, second = _ramp((3, 40, 40), "uint8"), _ramp((30, 50))
    path = tmp_path / "two.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(first, metadata={"axes": "CYX", "Name": "overview"})
        tw.write(second, metadata={"axes": "YX", "Name": "detail"})
    default = open_source(path)
    assert (default.name, default.axes) == ("overview", "cyx")
    np.testing.assert_array_equal(default.data.compute(), first)
    chosen = open_source(path, series=1)
    assert (chosen.name, chosen.axes) == ("detail", "yx")
    np.testing.assert_array_equal(chosen.data.compute(), second)
    with pytest.raises(InputError) as error:
        open_source(path, series=2)
    _assert_single_line(
        error, "has no series 2", "it has 2", "'overview'", "'detail'", "--series 0..1"
    )


def test_plain_multi_series_names(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(_ramp((40, 40), "uint8"))
        tw.write(_ramp((30, 50)))
    assert open_source(path, series=1).name == "plain_1"


# -- ImageJ, RGB, plain TIFFs, resolution --------------------------------------------------------


def test_imagej_hyperstack(tmp_path: Path) -> None:
    data = _ramp((2, 3, 4, 32, 40))  # TZCYX, ImageJ's order
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.2, 1 / 0.25),
        metadata={
            "axes": "TZCYX",
            "spacing": 0.5,
            "unit": "um",
            "finterval": 2.5,
        },
    )
    source = open_source(path)
    assert source.axes == "tczyx"
    np.testing.assert_array_equal(source.data.compute(), np.swapaxes(data, 1, 2))
    assert source.scale == pytest.approx({"x": 0.2, "y": 0.25, "z": 0.5, "t": 2.5})
    assert source.units == {"x": "micrometer", "y": "micrometer", "z": "micrometer", "t": "second"}


@pytest.mark.parametrize("samples", [3, 4])
def test_rgb_tiff(tmp_path: Path, samples: int) -> None:
    data = _ramp((30, 40, samples), "uint8")
    tifffile.imwrite(tmp_path / "rgb.tif", data, photometric="rgb")
    source = open_source(tmp_path / "rgb.tif")
    assert source.axes == "cyx"
    assert source.channel_names == ["R", "G", "B", "A"][:samples]
    assert source.channel_colors == ["FF0000", "00FF00", "0000FF", "FFFFFF"][:samples]
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(data, -1, 0))


def test_rgb_planar_separate_tiled(tmp_path: Path) -> None:
    data = _ramp((3, 100, 90), "uint8")
    tifffile.imwrite(
        tmp_path / "planar.tif", data, photometric="rgb", planarconfig="separate", tile=(32, 32)
    )
    source = open_source(tmp_path / "planar.tif")
    assert source.axes == "cyx"
    np.testing.assert_array_equal(source.data.compute(), data)


def test_plain_pages_become_z_with_resolution(tmp_path: Path) -> None:
    data = _ramp((5, 30, 40), "uint8")
    path = tmp_path / "pages.tif"
    tifffile.imwrite(
        path,
        data,
        shaped=False,
        photometric="minisblack",
        resolution=(2000, 4000),
        resolutionunit="CENTIMETER",
    )
    source = open_source(path)
    assert source.axes == "zyx"
    np.testing.assert_array_equal(source.data.compute(), data)
    assert source.scale == pytest.approx({"x": 5.0, "y": 2.5})
    assert source.units == {"x": "micrometer", "y": "micrometer"}


@pytest.mark.parametrize(
    ("dpi", "scale"), [(300.0, {"x": 25400 / 300, "y": 25400 / 300}), (72.0, {})]
)
def test_inch_resolution_but_not_screen_defaults(tmp_path: Path, dpi: float, scale: dict) -> None:
    tifffile.imwrite(
        tmp_path / "dpi.tif", _ramp((20, 20), "uint8"), resolution=(dpi, dpi), resolutionunit="INCH"
    )
    assert open_source(tmp_path / "dpi.tif").scale == pytest.approx(scale)


# -- axes ----------------------------------------------------------------------------------------


def test_two_unknown_dimensions_need_axes(tmp_path: Path) -> None:
    data = _ramp((2, 5, 30, 40), "uint8")
    path = tmp_path / "qq.tif"
    tifffile.imwrite(path, data)  # tifffile calls both leading dimensions 'Q'
    with pytest.raises(AxesError) as error:
        open_source(path)
    _assert_single_line(error, str(path), "(2, 5, 30, 40)", "--axes")
    source = open_source(path, axes="ZTYX")  # case-insensitive, not in canonical order
    assert source.axes == "tzyx"
    np.testing.assert_array_equal(source.data.compute(), np.swapaxes(data, 0, 1))


def test_axes_override_transposes_to_canonical_order(tmp_path: Path) -> None:
    data = _ramp((30, 40, 3), "uint8")
    tifffile.imwrite(tmp_path / "rgb.tif", data, photometric="rgb")
    source = open_source(tmp_path / "rgb.tif", axes="yxc")
    assert source.axes == "cyx"
    assert source.channel_names == ["R", "G", "B"]
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(data, -1, 0))
    swapped = open_source(tmp_path / "rgb.tif", axes="xyz")
    assert swapped.axes == "zyx"
    np.testing.assert_array_equal(swapped.data.compute(), np.transpose(data, (2, 1, 0)))


def test_axes_override_of_wrong_length(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "z.tif", _ramp((5, 30, 40), "uint8"))
    with pytest.raises(AxesError) as error:
        open_source(tmp_path / "z.tif", axes="yx")
    _assert_single_line(error, "(5, 30, 40)", "3 dimensions", "'yx'")


# -- laziness, pickling, remote ------------------------------------------------------------------


def test_graph_pickles_and_reopens_file_in_worker_processes(tmp_path: Path) -> None:
    data = _ramp((4, 120, 100))
    tifffile.imwrite(tmp_path / "tiled.tif", data, tile=(32, 32), compression="zlib")
    tifffile.imwrite(tmp_path / "contiguous.tif", data)
    tiled = open_source(tmp_path / "tiled.tif", axes="zyx")
    contiguous = open_source(tmp_path / "contiguous.tif", axes="zyx")
    restored = pickle.loads(pickle.dumps((tiled.data, contiguous.data)))
    results = dask.compute(*restored, scheduler="processes", num_workers=2)
    for result in results:
        np.testing.assert_array_equal(result, data)


def test_memory_url(tmp_path: Path) -> None:
    import fsspec

    data = _ramp((3, 40, 50))
    local = tmp_path / "remote.ome.tif"
    tifffile.imwrite(local, data, tile=(16, 16), metadata={"axes": "ZYX"})
    fs = fsspec.filesystem("memory")
    fs.pipe("/converters-test/remote.ome.tif", local.read_bytes())
    try:
        source = open_source("memory://converters-test/remote.ome.tif")
        assert source.name == "remote"
        np.testing.assert_array_equal(source.data.compute(), data)
    finally:
        fs.rm("/converters-test", recursive=True)


def test_s3_url(tmp_path: Path, s3_bucket: str, s3_options: dict) -> None:
    import s3fs

    data = _ramp((2, 3, 40, 50))
    local = tmp_path / "s3.ome.tif"
    tifffile.imwrite(local, data, metadata={"axes": "CZYX", "Channel": {"Name": ["a", "b"]}})
    s3fs.S3FileSystem(**s3_options).put(str(local), f"{s3_bucket}/in/s3.ome.tif")
    source = open_source(f"s3://{s3_bucket}/in/s3.ome.tif", storage_options=s3_options)
    assert (source.axes, source.channel_names) == ("czyx", ["a", "b"])
    np.testing.assert_array_equal(source.data.compute(), data)


# -- bad inputs ----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError) as error:
        open_source(tmp_path / "absent.tif")
    assert isinstance(error.value, FileNotFoundError)
    _assert_single_line(error, "absent.tif", "no such file")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        open_source(tmp_path)
    _assert_single_line(error, "is a folder")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(InputError) as error:
        open_source(tmp_path / "empty.tif")
    _assert_single_line(error, "empty file")


def test_text_renamed_tif(tmp_path: Path) -> None:
    (tmp_path / "notes.tif").write_text("these are my notes, not an image\n")
    with pytest.raises(InputError) as error:
        open_source(tmp_path / "notes.tif")
    _assert_single_line(error, "notes.tif", "not a valid TIFF")


def test_tiff_magic_then_garbage(tmp_path: Path) -> None:
    (tmp_path / "bad.tif").write_bytes(b"II*\x00" + b"\xff" * 100)
    with pytest.raises(InputError) as error:
        open_source(tmp_path / "bad.tif")
    _assert_single_line(error, "bad.tif")


def test_unsupported_suffix_lists_supported(tmp_path: Path) -> None:
    (tmp_path / "image.xyz").write_bytes(b"\x00\x01\x02\x03 some bytes")
    with pytest.raises(InputError) as error:
        open_source(tmp_path / "image.xyz")
    _assert_single_line(error, "unsupported format '.xyz'", *SUPPORTED_SUFFIXES)


@pytest.mark.parametrize("kind", ["ome", "plain", "tiled"])
def test_truncated_tiff_fails_at_open(tmp_path: Path, kind: str) -> None:
    data = _ramp((6, 100, 120))
    path = tmp_path / "whole.ome.tif"
    if kind == "ome":
        tifffile.imwrite(path, data, metadata={"axes": "ZYX"})
    elif kind == "plain":
        tifffile.imwrite(path, data, shaped=False, photometric="minisblack")
    else:
        tifffile.imwrite(path, data, tile=(32, 32), compression="zlib", photometric="minisblack")
    whole = path.read_bytes()
    cut = tmp_path / "cut.ome.tif"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError) as error:
        open_source(cut)
    _assert_single_line(error, "cut.ome.tif", "truncated")


def test_truncated_single_page_data(tmp_path: Path) -> None:
    path = tmp_path / "page.tif"
    tifffile.imwrite(path, _ramp((100, 120)), shaped=False)
    whole = path.read_bytes()
    path.write_bytes(whole[:-100])  # the IFD comes first: only the pixel data are cut
    with pytest.raises(InputError) as error:
        open_source(path)
    _assert_single_line(error, "is truncated", "re-copy")


@pytest.mark.parametrize("options", [{}, {"tile": (32, 32), "compression": "zlib"}])
def test_file_truncated_after_opening_fails_on_read(tmp_path: Path, options: dict) -> None:
    path = tmp_path / "shrinking.tif"
    tifffile.imwrite(path, _ramp((4, 100, 120)), metadata={"axes": "ZYX"}, **options)
    source = open_source(path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(InputError) as error:
        source.data.compute()
    _assert_single_line(error, "shrinking.tif", "truncated or corrupt")


@pytest.mark.parametrize(
    "kind", ["plain", "tiled_rgb", "zyx_pages", "big_endian", "imagej_czyx"],
)
def test_small_tiff_read_whole_matches_the_lazy_read(tmp_path, kind):
    """``load_below``: a small image read now into numpy (no dask graph), same pixels and axes."""
    rng = np.random.default_rng(3)
    path = tmp_path / f"{kind}.tif"
    if kind == "plain":
        tifffile.imwrite(path, rng.integers(0, 4000, (37, 53), dtype=np.uint16))
    elif kind == "tiled_rgb":
        tifffile.imwrite(path, rng.integers(0, 255, (80, 96, 3), dtype=np.uint8), tile=(32, 32), photometric="rgb")
    elif kind == "zyx_pages":
        tifffile.imwrite(path, rng.integers(0, 4000, (4, 30, 20), dtype=np.uint16))
    elif kind == "big_endian":
        tifffile.imwrite(path, rng.random((25, 31)).astype(">f4"), byteorder=">")
    else:
        tifffile.imwrite(path, rng.integers(0, 4000, (3, 2, 20, 24), dtype=np.uint16), imagej=True,
                         metadata={"axes": "ZCYX"})
    lazy = open_source(path)
    whole = open_source(path, load_below=2**20)
    assert isinstance(whole.data, np.ndarray) and not isinstance(lazy.data, np.ndarray)
    assert whole.axes == lazy.axes and whole.data.dtype == lazy.data.dtype
    assert whole.data.dtype.isnative
    np.testing.assert_array_equal(whole.data, lazy.data.compute())
    assert (whole.scale, whole.channel_names, whole.name) == (lazy.scale, lazy.channel_names, lazy.name)
    assert not isinstance(open_source(path, load_below=16).data, np.ndarray)  # larger than the limit: lazy
