"""Formats read through bioio plugins and OpenSlide, ``ngffstore formats``, and unknown formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import converters
from ngffstore.cli import main
from ngffstore.errors import InputError

pytest.importorskip("bioio")
pytest.importorskip("bioio_ome_tiff")


@pytest.fixture
def ome_tiff(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(0).integers(0, 4000, (2, 5, 60, 70), dtype=np.uint16)
    path = tmp_path / "stack.ome.tiff"
    tifffile.imwrite(
        path, data, ome=True, photometric="minisblack",
        metadata={"axes": "CZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.3, "PhysicalSizeZ": 1.5,
                  "Channel": {"Name": ["DAPI", "GFP"]}},
    )
    return path, data


@pytest.mark.parametrize("reader", ["bioio", "bioio:bioio-ome-tiff"])
def test_bioio_plugin_reads_pixels_dims_sizes(ome_tiff, reader: str) -> None:
    path, data = ome_tiff
    source = converters.open_source(path, reader=reader)
    assert source.axes == "czyx"
    np.testing.assert_array_equal(source.data.compute(), data)
    assert source.scale == pytest.approx({"z": 1.5, "y": 0.3, "x": 0.2})
    assert source.units == {"z": "micrometer", "y": "micrometer", "x": "micrometer"}
    assert source.channel_names == ["DAPI", "GFP"]
    assert source.metadata["reader"] == "bioio bioio_ome_tiff"
    # the same file through ngffstore's own reader gives the same image
    own = converters.open_source(path)
    assert own.axes == source.axes and own.scale == pytest.approx(source.scale)


def test_bioio_rgb_samples_become_channels(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    path = tmp_path / "rgb.ome.tiff"
    tifffile.imwrite(path, rgb, ome=True, photometric="rgb")
    source = converters.open_source(path, reader="bioio")
    assert source.axes == "cyx" and source.channel_colors == ["FF0000", "00FF00", "0000FF"]
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(rgb, -1, 0))


def test_bioio_written_store(ome_tiff, tmp_path: Path) -> None:
    from ngffstore.image import write_image

    path, data = ome_tiff
    out = tmp_path / "b.ome.zarr"
    write_image(converters.open_source(path, reader="bioio"), str(out), min_size=32)
    np.testing.assert_array_equal(np.asarray(zarr.open_group(str(out), mode="r")["0"]), data)


def test_bioio_unknown_series_and_plugin(ome_tiff) -> None:
    path, _ = ome_tiff
    with pytest.raises(InputError, match=r"no series 3; it has 1 .*--series 0"):
        converters.open_source(path, reader="bioio", series=3)
    with pytest.raises(InputError, match="no bioio plugin 'bioio-nope'"):
        converters.open_source(path, reader="bioio:bioio-nope")
    with pytest.raises(InputError, match="unknown reader 'magic'"):
        converters.open_source(path, reader="magic")


def test_openslide_reader_on_an_svs(tmp_path: Path) -> None:
    pytest.importorskip("openslide")
    from tests.converters.test_wsi import MPP, smooth_rgb, write_svs

    path = tmp_path / "slide.svs"
    label = np.random.default_rng(3).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    write_svs(path, smooth_rgb(300, 400), label=label)
    source = converters.open_source(path, reader="openslide")
    own = converters.open_source(path)
    np.testing.assert_array_equal(source.data.compute(), own.data.compute())
    assert source.scale == {"y": MPP, "x": MPP} and source.channel_windows == [(0.0, 255.0)] * 3
    names = {a.name: a for a in source.attachments}
    assert {"label", "thumbnail"} <= set(names)
    np.testing.assert_array_equal(names["label"].data.compute(), label)


@pytest.mark.parametrize(
    ("name", "needs"), [("scan.nd2", "bioio-nd2"), ("scan.lif", "bioio-lif"), ("slide.mrxs", None)]
)
def test_unknown_format_names_the_extra(tmp_path: Path, capsys, name: str, needs: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(b"not an image file at all" * 10)
    with pytest.raises(InputError) as error:
        converters.open_source(path)
    message = str(error.value)
    assert "\n" not in message
    if needs:
        assert f"pip install ngffstore[bioio] {needs}" in message
    else:  # OpenSlide is installed but does not recognise the file
        assert "ngffstore[openslide]" in message
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(path), str(out)]) != 0
    assert "Traceback" not in capsys.readouterr().err and not out.exists()


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "notes.xyz"
    path.write_bytes(b"hello")
    with pytest.raises(InputError, match=r"unsupported format '\.xyz'.*ngffstore formats"):
        converters.open_source(path)


def test_formats_command(capsys) -> None:
    assert main(["formats", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_format = {r["format"]: r for r in rows}
    assert by_format["Zeiss CZI"]["installed"] is True and by_format["Zeiss CZI"]["extra"] == "ngffstore[czi]"
    assert any(r["format"] == "bioio plugin bioio-ome-tiff" and r["installed"] for r in rows)
    assert main(["formats"]) == 0
    assert "installed: yes" in capsys.readouterr().out
