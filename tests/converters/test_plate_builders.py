"""The converters' side of plates and the plug-in seam: file builders feed ngffstore.write_plate,
one filename-pattern syntax, the deprecated path-taking forms, and ``plugins.converters()``."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
import tifffile

import converters
import ngffstore
from converters.planes import NamePattern
from converters.plate import FilePlateInput, compile_pattern, from_pattern, open_fields
from ngffstore import plugins
from ngffstore.errors import InputError
from ngffstore.plate import PlateInput, open_plate, write_plate
from ngffstore.source import Source


def _folder(tmp_path, wells=("A01", "B02")):
    folder = tmp_path / "exp"
    folder.mkdir()
    for i, well in enumerate(wells):
        tifffile.imwrite(folder / f"{well}_s1.tif", np.full((32, 40), i + 1, dtype=np.uint16))
    return folder


def test_source_is_the_store_type():
    assert converters.Source is Source is converters.base.Source
    assert Source.__module__ == "ngffstore.source"


def test_the_entry_point_finds_converters_api():
    module = plugins.converters()
    assert module.__name__ == "converters.api"
    assert module.from_pattern is from_pattern


def test_no_converters_installed_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(plugins, "entry_points", lambda group: [])
    plugins.converters.cache_clear()
    try:
        with pytest.raises(InputError, match="no input converters installed: pip install ngffstore"):
            plugins.converters()
    finally:
        plugins.converters.cache_clear()
    assert importlib.metadata.entry_points(group=plugins.GROUP)


def test_builder_input_is_opened_by_write_plate(tmp_path):
    plate_input = from_pattern(_folder(tmp_path), "{well}_s{field}.tif")
    assert isinstance(plate_input, FilePlateInput) and isinstance(plate_input.fields[0].source, str)
    opened = open_fields(plate_input)
    assert type(opened) is PlateInput and all(isinstance(f.source, Source) for f in opened.fields)
    summary = write_plate(plate_input, tmp_path / "p.zarr", min_size=16, progress=False, preview=False)
    assert summary.wells == 2 and summary.field_shape == (32, 40)


def test_file_paths_in_write_plate_are_deprecated_but_work(tmp_path):
    folder = _folder(tmp_path)
    fields = [("A", 1, 0, str(folder / "A01_s1.tif")), ("B", 2, 0, str(folder / "B02_s1.tif"))]
    with pytest.warns(DeprecationWarning, match="file paths as field sources"):
        write_plate(fields, tmp_path / "p.zarr", min_size=16, progress=False, preview=False)
    with open_plate(str(tmp_path / "p.zarr")) as plate:
        assert int(np.asarray(plate.well("B", "2").fields[0].to_dask()).max()) == 2


def test_sources_and_arrays_need_no_converters(tmp_path):
    src = Source(data=np.ones((16, 16), np.uint8), axes="yx", name="n", inputs=["memory"])
    summary = write_plate([("A", 1, 0, src), ("A", 2, 0, np.zeros((16, 16), np.uint8))], tmp_path / "p.zarr",
                          min_size=8, progress=False, preview=False)
    assert summary.fields == 2


def test_old_builder_names_warn_and_point_to_converters(tmp_path):
    with pytest.warns(DeprecationWarning, match="converters.plate.from_pattern"):
        old = ngffstore.plate.from_pattern
    assert old is from_pattern


def test_one_pattern_syntax():
    # plate parts and plane fields use the same parser: {part}, {part:REGEX}, *, regex groups
    plate = compile_pattern(r"r{row}c{column}f{field:\d{2}}*-ch{c}.TIFF")
    m = plate.fullmatch("r02c03f07p01-ch2.tiff")
    assert m is not None and m.group("field") == "07" and m.group("channel") == "2"
    assert compile_pattern("r{row}c{column}f{field:\\d{2}}.tif").fullmatch("r02c03f7.tif") is None
    planes = NamePattern.parse(r"{name}_{t}_{c:[A-Z]+}*_{z}")
    assert planes.match("exp_1_GFP_x_3.png", "exp_1_GFP_x_3") == {"name": "exp", "t": "1", "c": "GFP", "z": "3"}
    with pytest.raises(InputError, match="unknown part"):
        compile_pattern("{well}_{site2}.tif")
    with pytest.raises(InputError, match="must name the well"):
        compile_pattern("{field}_{channel}.tif")
