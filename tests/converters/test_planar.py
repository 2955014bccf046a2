"""PNG and JPEG inputs."""

from __future__ import annotations

import pickle
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from converters import open_source
from ngffstore.errors import AxesError, InputError


def _ramp(shape: tuple[int, ...], dtype: str = "uint8") -> np.ndarray:
    return (np.arange(int(np.prod(shape))) * 7 % np.iinfo(dtype).max).astype(dtype).reshape(shape)


def test_grey_png(tmp_path: Path) -> None:
    data = _ramp((30, 40))
    Image.fromarray(data).save(tmp_path / "grey.png")
    source = open_source(tmp_path / "grey.png")
    assert (source.axes, source.name) == ("yx", "grey")
    assert source.channel_names is None
    assert source.data.dtype == np.uint8
    np.testing.assert_array_equal(source.data.compute(), data)


def test_16_bit_grey_png_stays_uint16(tmp_path: Path) -> None:
    data = _ramp((30, 40), "uint16") * 3
    Image.fromarray(data).save(tmp_path / "grey16.png")
    source = open_source(tmp_path / "grey16.png")
    assert source.data.dtype == np.uint16
    np.testing.assert_array_equal(source.data.compute(), data)


@pytest.mark.parametrize(
    ("mode", "names", "colors"),
    [
        ("RGB", ["R", "G", "B"], ["FF0000", "00FF00", "0000FF"]),
        ("RGBA", ["R", "G", "B", "A"], ["FF0000", "00FF00", "0000FF", "FFFFFF"]),
    ],
)
def test_colour_png(tmp_path: Path, mode: str, names: list[str], colors: list[str]) -> None:
    data = _ramp((30, 40, len(mode)))
    Image.fromarray(data, mode).save(tmp_path / "colour.png")
    source = open_source(tmp_path / "colour.png")
    assert source.axes == "cyx"
    assert source.channel_names == names
    assert source.channel_colors == colors
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(data, -1, 0))


@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_png_stays_uint16(tmp_path: Path, channels: int) -> None:
    data = _ramp((30, 40, channels), "uint16") * 5
    (tmp_path / "rgb16.png").write_bytes(imagecodecs.png_encode(data))
    source = open_source(tmp_path / "rgb16.png")
    assert source.axes == "cyx"
    assert source.data.dtype == np.uint16
    np.testing.assert_array_equal(source.data.compute(), np.moveaxis(data, -1, 0))


def test_palette_png_keeps_indices(tmp_path: Path) -> None:
    data = (_ramp((20, 30)) % 4).astype("uint8")
    image = Image.fromarray(data, "L").convert("P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.putdata(data.ravel().tolist())
    image.save(tmp_path / "labels.png")
    source = open_source(tmp_path / "labels.png")
    assert source.axes == "yx"
    np.testing.assert_array_equal(source.data.compute(), data)


@pytest.mark.parametrize(("mode", "axes"), [("L", "yx"), ("RGB", "cyx")])
def test_jpeg(tmp_path: Path, mode: str, axes: str) -> None:
    shape = (48, 64) if mode == "L" else (48, 64, 3)
    Image.fromarray(_ramp(shape), mode).save(tmp_path / "photo.jpg", quality=95)
    source = open_source(tmp_path / "photo.jpg")
    assert source.axes == axes
    decoded = np.asarray(Image.open(tmp_path / "photo.jpg"))
    expected = np.moveaxis(decoded, -1, 0) if decoded.ndim == 3 else decoded
    np.testing.assert_array_equal(source.data.compute(), expected)


def test_content_wins_over_suffix(tmp_path: Path) -> None:
    data = _ramp((10, 12))
    Image.fromarray(data).save(tmp_path / "really-a-png.tif", format="PNG")
    np.testing.assert_array_equal(open_source(tmp_path / "really-a-png.tif").data.compute(), data)


def test_axes_override(tmp_path: Path) -> None:
    data = _ramp((30, 40))
    Image.fromarray(data).save(tmp_path / "grey.png")
    source = open_source(tmp_path / "grey.png", axes="XY")
    assert source.axes == "yx"
    np.testing.assert_array_equal(source.data.compute(), data.T)
    with pytest.raises(AxesError):
        open_source(tmp_path / "grey.png", axes="zyx")


def test_single_lazy_chunk_that_pickles(tmp_path: Path) -> None:
    data = _ramp((30, 40, 3))
    Image.fromarray(data).save(tmp_path / "rgb.png")
    source = open_source(tmp_path / "rgb.png")
    assert source.data.npartitions == 1
    restored = pickle.loads(pickle.dumps(source.data))
    np.testing.assert_array_equal(restored.compute(), np.moveaxis(data, -1, 0))


def test_series_is_refused(tmp_path: Path) -> None:
    Image.fromarray(_ramp((10, 10))).save(tmp_path / "grey.png")
    with pytest.raises(InputError, match="--series"):
        open_source(tmp_path / "grey.png", series=1)


@pytest.mark.parametrize(("name", "fmt"), [("cut.png", "PNG"), ("cut.jpg", "JPEG")])
def test_truncated_fails_at_open(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / name
    Image.fromarray(_ramp((64, 64, 3))).save(path, format=fmt)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError) as error:
        open_source(path)
    assert "\n" not in str(error.value)
    assert name in str(error.value) and "truncated" in str(error.value)


@pytest.mark.parametrize("name", ["notes.png", "notes.jpg"])
def test_text_renamed(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("not an image at all\n")
    with pytest.raises(InputError, match="not a valid (PNG|JPEG) file"):
        open_source(tmp_path / name)
