"""``ngffstore.image.render.save_region``: read a window or thumbnail of an opened image, save it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

import ngffstore
from ngffstore.errors import InputError
from ngffstore.image.render import SavedRegion, save_region

DATA = np.random.default_rng(7).integers(0, 1000, size=(2, 120, 100), dtype=np.uint16)


@pytest.fixture(scope="module")
def image_url(tmp_path_factory):
    url = str(tmp_path_factory.mktemp("render") / "img.zarr")
    ngffstore.write_image(DATA, url, axes="cyx", chunks=64, min_size=30, progress=False)
    return url


def test_window_npy_keeps_raw_values(image_url, tmp_path):
    out = tmp_path / "w.npy"
    with ngffstore.open_image(image_url) as image:
        saved = save_region(image, out, bbox=(10, 20, 30, 40))
    assert isinstance(saved, SavedRegion)
    np.testing.assert_array_equal(np.load(out), DATA[:, 20:60, 10:40])
    assert (saved.level, saved.bbox, saved.clipped, saved.axes) == (0, (10, 20, 30, 40), False, "cyx")
    assert saved.to_text() == (
        f"wrote {out} (2x40x30 uint16 (cyx)) from level 0 of {saved.n_levels} "
        "(2x40x30 uint16, cyx), level-0 region x=10 y=20 w=30 h=40"
    )


def test_window_clipped_is_said(image_url, tmp_path):
    with ngffstore.open_image(image_url) as image:
        saved = save_region(image, tmp_path / "c.npy", bbox=(90, 100, 50, 50))
    assert saved.clipped and saved.bbox == (90, 100, 10, 20)
    assert saved.to_text().endswith("x=90 y=100 w=10 h=20, clipped to the image")


def test_thumbnail_png_fits_max_size(image_url, tmp_path):
    out = tmp_path / "t.png"
    with ngffstore.open_image(image_url) as image:
        saved = save_region(image, out, max_size=50)
    picture = np.asarray(PILImage.open(out))
    assert max(picture.shape[:2]) <= 50 and picture.shape[2] == 3
    assert saved.what == f"{picture.shape[1]}x{picture.shape[0]} RGB"


def test_labels_need_png_and_thumbnail_refuses_level(image_url, tmp_path):
    with ngffstore.open_image(image_url) as image:
        with pytest.raises(InputError, match="is not a .png file"):
            save_region(image, tmp_path / "x.npy", bbox=(0, 0, 10, 10), labels="cells")
        with pytest.raises(InputError, match="give a bbox"):
            save_region(image, tmp_path / "x.png", level=1)
    assert not (tmp_path / "x.npy").exists()
