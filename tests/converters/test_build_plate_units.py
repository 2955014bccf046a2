"""``converters.api.build_plate(..., scale=TEXT, units=NAME)``: one unit name for the axes the
scale names, before the fields' axes are known (``ngffstore plate --pixel-size --unit``)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from converters.api import _plate_units, build_plate
from ngffstore.plate import open_plate


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        ("0.65", {"y": "nm", "x": "nm"}),
        ("0.5,0.65", {"y": "nm", "x": "nm"}),
        ("2 0.5 0.65", {"z": "nm", "y": "nm", "x": "nm"}),
        ("1,2,0.5,0.65", {"t": "second", "z": "nm", "y": "nm", "x": "nm"}),
        ("c=1,z=2,x=0.5", {"z": "nm", "x": "nm"}),
        ({"T": 3, "y": 1}, {"t": "second", "y": "nm"}),
        ([2, 0.5, 0.5], {"z": "nm", "y": "nm", "x": "nm"}),
    ],
)
def test_one_unit_name_becomes_a_mapping(scale, expected):
    assert _plate_units(scale, "nm") == expected


def test_mappings_and_missing_scale_pass_through():
    given = {"y": "micrometer"}
    assert _plate_units("0.5", given) is given
    assert _plate_units(None, "nm") == "nm"


def test_build_plate_stores_the_units(tmp_path):
    tree = tmp_path / "tree"
    for r, c in (("A", "1"), ("B", "2")):
        (tree / r / c).mkdir(parents=True)
        tifffile.imwrite(tree / r / c / "0.tif", np.ones((3, 20, 24), dtype=np.uint8))
    build_plate(str(tmp_path / "p.zarr"), tree=str(tree), scale="z=2,y=0.5,x=0.5", units="nanometer",
                axes="zyx", min_size=8, progress=False, preview=False, scheduler="synchronous")
    field = open_plate(str(tmp_path / "p.zarr")).field("A", 1)
    assert field.scale == {"z": 2.0, "y": 0.5, "x": 0.5}
    assert field.units == {"z": "nanometer", "y": "nanometer", "x": "nanometer"}
