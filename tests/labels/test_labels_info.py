"""``labels_info``: a stored label image described from its metadata (``ngffstore labels info``)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

import ngffstore
from ngffstore.errors import InputError, StorageAccessError, StoreNotFoundError
from ngffstore.labels import LabelsInfo, export_regions, labels_info, write_labels
from ngffstore.nodes import update_attributes
from ngffstore.storage import Location


def _image_with_labels(url: str, options: dict | None = None) -> np.ndarray:
    ngffstore.write_image(
        np.zeros((64, 48), dtype=np.uint8), url, axes="yx", scale={"y": 0.5, "x": 0.25},
        units={"y": "micrometer", "x": "micrometer"}, chunks=32, min_size=16, progress=False,
        storage_options=options,
    )
    cells = np.zeros((64, 48), dtype=np.uint16)
    cells[2:20, 3:30] = 3
    cells[40:60, 10:20] = 7
    write_labels(
        cells, url, name="cells", colors={3: (255, 0, 0, 255)},
        properties=pd.DataFrame({"label-value": [3, 7], "kind": ["a", "b"], "area": [1.0, 2.0]}),
        storage_options=options, progress=False,
    )
    return cells


def test_labels_info_from_recorded_statistics(store_url):
    url, options = store_url
    _image_with_labels(url, options)
    info = labels_info(url, "cells", storage_options=options)
    assert isinstance(info, LabelsInfo)
    assert (info.name, info.axes, info.dtype, info.downsampling) == ("cells", "yx", "uint16", "mode")
    assert info.url.rstrip("/").endswith("store/labels/cells")
    assert (info.value_count, info.value_range) == (3, (0, 7))
    assert (info.color_count, info.property_count, info.property_columns) == (3, 2, ("area", "kind"))
    assert [lv.shape for lv in info.levels] == [(64, 48), (32, 24), (16, 12)]
    assert info.units == {"y": "micrometer", "x": "micrometer"}
    as_dict = json.loads(json.dumps(info.to_dict(), default=str))
    assert as_dict["values"] == {"count": 3, "min": 0, "max": 7}
    assert as_dict["properties"] == {"labels": 2, "columns": ["area", "kind"]}
    assert as_dict["levels"][1] == {"path": "1", "shape": [32, 24], "chunks": [32, 24], "shards": None,
                                    "scale": [1.0, 0.5]}
    text = info.to_text().splitlines()
    assert text[0] == "label     cells"
    assert text[3:6] == ["values    3 (0 to 7)", "colours   3", "properties 2 labels; columns: area, kind"]
    assert text[-1] == "  2            16x12  chunks 16x12        scale 2, 1"


def _drop_statistics(url: str, replacement: object) -> None:
    def change(attrs: dict) -> dict:
        block = dict(attrs.get("ngffstore") or {})
        if replacement is None:
            block.pop("label_values", None)
        else:
            block["label_values"] = replacement
        attrs["ngffstore"] = block
        return attrs

    update_attributes(Location.parse(url).child("labels", "cells"), change)


@pytest.mark.parametrize("recorded", [None, {"count": "3"}, {"min": 0, "max": 7}, [1, 2]])
def test_labels_info_counts_values_when_none_are_recorded(tmp_path, recorded):
    """A label image written by another tool (or with damaged statistics): the values are read."""
    url = str(tmp_path / "img.zarr")
    _image_with_labels(url)
    _drop_statistics(url, recorded)
    info = labels_info(url, "cells")
    assert (info.value_count, info.value_range) == (3, (0, 7))


def test_labels_info_count_without_range(tmp_path):
    url = str(tmp_path / "img.zarr")
    _image_with_labels(url)
    _drop_statistics(url, {"count": 0})
    info = labels_info(url, "cells")
    assert (info.value_count, info.value_range) == (0, None)
    assert info.to_dict()["values"] == {"count": 0}
    assert "values    0\n" in info.to_text()


def test_labels_info_errors(tmp_path):
    url = str(tmp_path / "img.zarr")
    _image_with_labels(url)
    with pytest.raises(StoreNotFoundError, match="cells"):
        labels_info(url, "nuclei")
    with pytest.raises(InputError):
        labels_info(url, "../cells")


def test_export_regions_to_a_file_or_as_text(tmp_path):
    url = str(tmp_path / "img.zarr")
    _image_with_labels(url)
    as_text = export_regions(url, "cells")
    assert (as_text.rows, as_text.output, as_text.level) == (2, None, 0)
    assert as_text.to_text() == "2 labels measured"
    table = pd.read_csv(io.StringIO(as_text.text))
    assert table["label"].tolist() == [3, 7]
    assert table["area_px"].tolist() == [18 * 27, 20 * 10]
    assert table.loc[0, "area"] == pytest.approx(18 * 27 * 0.5 * 0.25)
    path = tmp_path / "regions.csv"
    written = export_regions(url, "cells", path, level=1, scheduler="synchronous")
    assert (written.rows, written.output, written.text, written.level) == (2, str(path), None, 1)
    assert written.to_text() == f"2 labels measured; wrote {path}"
    coarse = pd.read_csv(path)
    assert coarse["label"].tolist() == [3, 7] and coarse["area_px"].tolist() != table["area_px"].tolist()
    with pytest.raises(StorageAccessError, match="cannot write .*choose another path"):
        export_regions(url, "cells", tmp_path / "no-such-folder" / "r.csv")
    with pytest.raises(StoreNotFoundError):
        export_regions(url, "nuclei")
