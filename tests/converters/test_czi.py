"""Zeiss CZI -> Source -> OME-Zarr: files written here with pylibCZIrw (Zeiss's libCZI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

import converters
from ngffstore.cli import main
from ngffstore.errors import InputError

czi = pytest.importorskip("pylibCZIrw.czi")


def _display(colors: dict[int, tuple[int, int, int]]) -> dict:
    return {
        c: czi.ChannelDisplaySettingsDataClass(
            True, czi.TintingMode.Color, czi.Rgb8Color(*(np.uint8(v) for v in rgb)), 0.0, 1.0
        )
        for c, rgb in colors.items()
    }


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """Two scenes of 2 channels x 3 z-planes (uint16), different sizes and positions."""
    path = tmp_path_factory.mktemp("czi") / "stack.czi"
    rng = np.random.default_rng(0)
    written = []
    with czi.create_czi(str(path), exist_ok=True) as w:
        for scene, ((x, y), (h, w_)) in enumerate((((0, 0), (100, 130)), ((400, 250), (70, 90)))):
            data = rng.integers(0, 65535, (2, 3, h, w_), dtype=np.uint16)  # c, z, y, x
            for c in range(2):
                for z in range(3):
                    w.write(data[c, z][..., None], plane={"C": c, "Z": z, "T": 0}, location=(x, y), scene=scene)
            written.append(data)
        w.write_metadata(
            "stack", channel_names={0: "DAPI", 1: "GFP"}, scale_x=0.2e-6, scale_y=0.2e-6, scale_z=1e-6,
            display_settings=_display({0: (0, 0, 255), 1: (0, 255, 0)}),
        )
    return path, written


def test_scenes_channels_z_sizes(scenes) -> None:
    path, written = scenes
    for series, data in enumerate(written):
        source = converters.open_source(path, series=series)
        assert source.axes == "czyx"
        np.testing.assert_array_equal(source.data.compute(), data)
        assert source.scale == pytest.approx({"z": 1.0, "y": 0.2, "x": 0.2})
        assert source.units == {"z": "micrometer", "y": "micrometer", "x": "micrometer"}
        assert source.channel_names == ["DAPI", "GFP"]
        assert source.channel_colors == ["0000FF", "00FF00"]
        assert source.metadata["scene"] == series
        assert source.name == f"stack_scene{series}"
        assert source.channel_windows is None


def test_cli_converts_a_scene(scenes, tmp_path: Path, capsys) -> None:
    path, written = scenes
    out = tmp_path / "scene1.ome.zarr"
    assert main(["convert", str(path), str(out), "--series", "1"]) == 0, capsys.readouterr().err
    group = zarr.open_group(str(out), mode="r")
    np.testing.assert_array_equal(np.asarray(group["0"]), written[1])
    ome = group.attrs["ome"]
    assert [c["label"] for c in ome["omero"]["channels"]] == ["DAPI", "GFP"]
    scale = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == pytest.approx([1.0, 1.0, 0.2, 0.2])


def test_time_series_with_tiled_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from converters import _io
    from converters import czi as czi_module

    monkeypatch.setattr(czi_module, "_REGION_TILE", 64)  # many region reads per plane
    monkeypatch.setattr(_io, "STRIP_ROWS", 64)
    monkeypatch.setattr(_io, "STRIP_COLUMNS", 64)
    data = np.random.default_rng(1).integers(0, 255, (3, 150, 200), dtype=np.uint8)  # t, y, x
    path = tmp_path / "time.czi"
    with czi.create_czi(str(path), exist_ok=True) as w:
        for t in range(3):
            w.write(data[t][..., None], plane={"C": 0, "Z": 0, "T": t})
    source = converters.open_source(path)
    assert source.axes == "tyx" and source.data.chunks[1] == (64, 64, 22)
    np.testing.assert_array_equal(source.data.compute(), data)


def test_mosaic_gaps_are_zero(tmp_path: Path) -> None:
    """Where no subblock lies inside the scene's rectangle the image is 0 (libCZI's background),
    in every region read, whatever the reader's buffers held before."""
    rng = np.random.default_rng(5)
    a, b = (rng.integers(1, 255, (100, 120), dtype=np.uint16) for _ in range(2))
    path = tmp_path / "gaps.czi"
    with czi.create_czi(str(path), exist_ok=True) as w:
        w.write(a[..., None], plane={"C": 0, "Z": 0, "T": 0}, location=(0, 0), scene=0)
        w.write(b[..., None], plane={"C": 0, "Z": 0, "T": 0}, location=(200, 150), scene=0)
    source = converters.open_source(path)
    expected = np.zeros((250, 320), np.uint16)
    expected[:100, :120], expected[150:, 200:] = a, b
    for _ in range(2):  # the second read reuses memory the first freed
        np.testing.assert_array_equal(source.data.compute(), expected)
        np.testing.assert_array_equal(source.data[120:240, 100:260].compute(), expected[120:240, 100:260])


def test_rgb_mosaic_is_stitched(tmp_path: Path) -> None:
    """Four RGB tiles of one scene, placed edge to edge at an offset: one stitched image."""
    bgr = np.random.default_rng(2).integers(0, 255, (300, 500, 3), dtype=np.uint8)  # as stored
    path = tmp_path / "mosaic.czi"
    with czi.create_czi(str(path), exist_ok=True) as w:
        for y, x in ((0, 0), (0, 250), (150, 0), (150, 250)):
            w.write(bgr[y : y + 150, x : x + 250], plane={"C": 0, "Z": 0, "T": 0}, location=(x + 100, y + 40), scene=0)
        w.write_metadata("mosaic", scale_x=0.5e-6, scale_y=0.5e-6)
    source = converters.open_source(path)
    assert source.axes == "cyx" and source.data.shape == (3, 300, 500)
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(bgr[..., ::-1], -1, 0))  # RGB
    assert source.channel_colors == ["FF0000", "00FF00", "0000FF"]
    assert source.channel_windows == [(0.0, 255.0)] * 3
    assert source.scale == pytest.approx({"y": 0.5, "x": 0.5})


def test_truncated_czi(scenes, tmp_path: Path, capsys) -> None:
    path, _ = scenes
    cut = tmp_path / "cut.czi"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated or damaged"):
        converters.open_source(cut)
    out = tmp_path / "cut.ome.zarr"
    assert main(["convert", str(cut), str(out)]) != 0
    err = capsys.readouterr().err
    assert "truncated or damaged" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_unknown_scene(scenes, tmp_path: Path, capsys) -> None:
    path, _ = scenes
    out = tmp_path / "x.ome.zarr"
    assert main(["convert", str(path), str(out), "--series", "5"]) != 0
    err = capsys.readouterr().err
    assert "no series 5" in err and "2 scenes" in err and "--series 0..1" in err
    assert not out.exists()


def test_czi_without_reader_names_the_extra(scenes, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    path, _ = scenes
    monkeypatch.setitem(sys.modules, "pylibCZIrw", None)  # as if it were not installed
    with pytest.raises(InputError, match=r"pip install 'ngffstore\[czi\]'"):
        converters.open_source(path)
