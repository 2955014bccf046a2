"""``ngffstore.rois._image.save_crop``: crop around a stored ROI and save image, mask or alpha."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from PIL import Image as PILImage

import ngffstore
from ngffstore import rois
from ngffstore.errors import InputError
from ngffstore.rois._image import SavedCrop, save_crop

DATA = np.arange(80 * 100, dtype=np.uint16).reshape(80, 100)


@pytest.fixture(scope="module")
def image_url(tmp_path_factory):
    url = str(tmp_path_factory.mktemp("savecrop") / "img.zarr")
    ngffstore.write_image(DATA, url, progress=False)
    rois.write_rois([shapely.box(10, 20, 40, 30)], url, layer="cells")
    return url


def test_image_npy_is_the_box_and_text_names_it(image_url, tmp_path):
    out = tmp_path / "c.npy"
    saved = save_crop(image_url, 1, out, layer="cells")
    assert isinstance(saved, SavedCrop)
    x, y, w, h = saved.bbox
    np.testing.assert_array_equal(np.load(out), DATA[y : y + h, x : x + w])
    assert (saved.level, (x, y)) == (0, (10, 20))
    assert saved.to_text() == f"wrote {saved.what} to {out} (ROI 1, level 0, x={x} y={y} w={w} h={h})"


def test_mask_and_alpha_png(image_url, tmp_path):
    saved = save_crop(image_url, 1, tmp_path / "m.png", what="mask")
    mask = np.asarray(PILImage.open(tmp_path / "m.png"))
    assert saved.what.endswith(f"mask ({int((mask > 0).sum())} pixels inside)")
    save_crop(image_url, 1, tmp_path / "a.png", what="alpha", increase_area=2.0)
    rgba = np.asarray(PILImage.open(tmp_path / "a.png"))
    assert rgba.shape[2] == 4 and rgba[..., 3].min() == 0 and rgba[..., 3].max() == 255


def test_missing_folder_writes_nothing(image_url, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        save_crop(image_url, 1, tmp_path / "nope" / "c.png")
