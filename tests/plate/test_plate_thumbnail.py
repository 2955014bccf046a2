"""``save_plate_thumbnail``: the whole-plate overview as a library call (``plate-thumbnail``)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ngffstore.errors import InputError, RegionError
from ngffstore.plate import write_plate
from ngffstore.plate.thumbnail import PlateThumbnail, save_plate_thumbnail


@pytest.fixture
def plate(tmp_path):
    fields = [(r, c, 0, np.full((32, 32), 100 * (i + 1), np.uint16)) for i, (r, c) in enumerate([("A", 1), ("B", 2)])]
    url = str(tmp_path / "p.zarr")
    write_plate(fields, url, min_size=8, progress=False, preview=False)
    return url


def test_png_and_raw_overviews(plate, tmp_path):
    png = save_plate_thumbnail(plate, str(tmp_path / "o.png"), max_size=16)
    assert isinstance(png, PlateThumbnail) and png.wells == "2x3 wells" and png.tile == (16, 16)
    with Image.open(tmp_path / "o.png") as im:
        assert im.mode == "RGB" and png.picture == f"{im.width}x{im.height} RGB"
    raw = save_plate_thumbnail(plate, str(tmp_path / "o.npy"), max_size=16, gap=0)
    values = np.load(tmp_path / "o.npy")
    assert values.shape[-2:] == (32, 48) and values.max() == 200 and raw.source.startswith("level")
    zoom = save_plate_thumbnail(plate, str(tmp_path / "w.npy"), max_size=16, well="B2")
    assert zoom.wells == "well B02" and np.load(tmp_path / "w.npy").min() == 200
    assert "wrote" in zoom.to_text()


def test_bad_requests_are_one_line_errors(plate, tmp_path):
    with pytest.raises(InputError, match="use a .png"):
        save_plate_thumbnail(plate, str(tmp_path / "o.jpg"))
    with pytest.raises(InputError, match="does not exist"):
        save_plate_thumbnail(plate, str(tmp_path / "nope" / "o.png"))
    with pytest.raises(RegionError, match="gap"):
        save_plate_thumbnail(plate, str(tmp_path / "o.png"), gap=-1)
