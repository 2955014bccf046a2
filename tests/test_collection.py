"""ngffstore.collection: the bioformats2raw container and the plate of placed fields, written last."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import ngffstore
from ngffstore import collection
from ngffstore.image.write import prepare_destination
from ngffstore.metadata import read_metadata, read_table, write_table
from ngffstore.plate.info import plate_info
from ngffstore.storage import Location
from ngffstore.validation import validate


def _container(url: str, ngff_version: str) -> Location:
    root = Location.parse(url)
    zarr_format = 3 if ngff_version == "0.5" else 2
    assert not prepare_destination(root, overwrite=False, fingerprint="f", zarr_format=zarr_format, operation="test")
    return root


@pytest.mark.parametrize("ngff_version", ["0.5", "0.4"])
def test_collection_is_complete_only_when_finished(tmp_path, ngff_version):
    root = _container(str(tmp_path / "c.zarr"), ngff_version)
    for i, name in enumerate(("a", "b")):
        ngffstore.write_image(np.full((2, 40, 50), i, np.uint16), root.child(name), axes="cyx", min_size=16,
                              ngff_version=ngff_version, progress=False)
    assert collection.is_complete_image(root.child("a")) and not collection.is_complete_image(root.child("x"))
    assert not validate(root.url).ok  # still marked as being written
    log = tmp_path / "run.log"
    log.write_bytes(b"started\n")
    attached = collection.copy_files(root, [collection.AttachedFile(name="run.log", url=str(log))])
    assert attached[0]["path"] == "attachments/run.log" and attached[0]["size"] == 8
    assert root.read_bytes("attachments/run.log") == b"started\n"
    written = collection.finish_collection(
        root, ["a", "b"], ngff_version=ngff_version, attrs={"ngffstore": {"attachments": attached}}
    )
    report = validate(root.url)
    assert report.ok, report.problems
    if ngff_version == "0.5":
        assert written["ome"]["bioformats2raw.layout"] == 3
        assert json.loads(root.read_bytes("OME/zarr.json"))["attributes"]["ome"]["series"] == ["a", "b"]
    else:
        assert written["bioformats2raw.layout"] == 3
        assert json.loads(root.read_bytes("OME/.zattrs"))["series"] == ["a", "b"]
    # a finished collection takes tables like an image (the tables/ group lists them)
    write_table(pd.DataFrame({"x": [1, 2]}), root.url, name="positions")
    assert list(read_table(root.url, "positions")["x"]) == [1, 2]
    assert "positions" in read_metadata(root.url).tables
    assert ngffstore.open_image(root.url, series=1).shape == (2, 40, 50)


def test_plate_of_placed_fields_and_its_info(tmp_path):
    root = _container(str(tmp_path / "p.zarr"), "0.5")
    placed = [("B", "3", "0"), ("B", "3", "1"), ("C", "1", "0")]
    for i, (r, c, f) in enumerate(placed):
        ngffstore.write_image(np.full((30, 20), i, np.uint8), root.child(r, c, f), min_size=16, progress=False,
                              channels=["DAPI"])
    collection.finish_plate(root, placed, name="screen", ngff_version="0.5",
                            attrs={"ngffstore": {"metadata": {"key_values": {"k": "v"}}}})
    assert validate(root.url).ok
    assert read_metadata(root.url).key_values == {"k": "v"}

    info = plate_info(root.url, wells=True)
    assert (info.name, info.rows, info.columns, info.wells, info.field_count) == (
        "screen", ("A", "B", "C"), ("1", "2", "3", "4"), 2, 2)  # the smallest standard plate: 12 wells
    assert info.field is not None and info.field.shape == (30, 20) and info.field.channels == ("DAPI",)
    assert info.well_fields == {"B/3": ["0", "1"], "C/1": ["0"]}
    text = info.to_text()
    assert "layout    rows A-C, columns 1-4" in text and "  B/3      0, 1" in text
    assert json.loads(json.dumps(info.to_dict()))["field"]["levels"] == [[30, 20], [15, 10]]
    assert plate_info(root.url).well_fields is None

    # a plate whose first field cannot be opened is still described
    root.child("B", "3", "0").delete("zarr.json")
    broken = plate_info(root.url)
    assert broken.field is None and broken.first_field_error
    assert "fields    cannot open the first field:" in broken.to_text()
    assert "first_field_error" in broken.to_dict() and "field" not in broken.to_dict()
