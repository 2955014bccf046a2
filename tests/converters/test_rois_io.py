"""converters.rois.import_rois / export_rois: annotation files <-> ROI layers of a stored image."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

import ngffstore
from converters.rois import RoiExport, RoiImport, export_rois, import_rois
from ngffstore import rois
from ngffstore.cli import main
from ngffstore.errors import InputError, OutputExistsError


@pytest.fixture
def image(tmp_path):
    url = str(tmp_path / "img.zarr")
    ngffstore.write_image(np.zeros((100, 120), dtype=np.uint8), url, progress=False, min_size=32)
    return url


@pytest.fixture
def wkt(tmp_path):
    path = tmp_path / "a.wkt"
    path.write_text("POLYGON ((10 10, 40 10, 40 30, 10 30, 10 10))\nPOINT (5 90)\n")
    return path


def test_import_then_append_twice(image, wkt):
    first = import_rois(wkt, image, layer="a", terms=["Tumor"])
    assert isinstance(first, RoiImport) and first.written and first.count == 2
    assert first.format == "wkt" and first.layer.count == 2 and first.layer.terms == {"Tumor": 2}
    assert first.to_text() == f"imported 2 ROIs (wkt) into layer 'a' of {first.url} (now 2; Tumor 2)"
    with pytest.raises(OutputExistsError):
        import_rois(wkt, image, layer="a")

    added = import_rois(wkt, image, layer="a", append=True)
    assert added.written and added.layer.count == 4 and added.to_text().startswith("added 2 ROIs")
    assert added.import_id in added.layer.imports
    # the same append again (a rerun) writes nothing and says so
    again = import_rois(wkt, image, layer="a", append=True)
    assert not again.written and again.import_id == added.import_id and again.layer.count == 4
    assert again.to_text().startswith(f"nothing to do: these 2 ROIs were already added to layer 'a' of {again.url}")
    assert f"(import {added.import_id[:12]}; layer has 4 ROIs)" in again.to_text()
    assert len(rois.read_rois(image, "a")) == 4


def test_export_to_text_and_file(image, wkt, tmp_path):
    import_rois(wkt, image, layer="a")
    result = export_rois(image, layer="a", format="wkt")
    assert isinstance(result, RoiExport) and result.count == 2 and result.path is None
    assert [shapely.from_wkt(line).geom_type for line in result.text.splitlines()] == ["Polygon", "Point"]
    out = tmp_path / "out.geojson"
    written = export_rois(image, out, layer="a", format="geojson", bbox=(0, 0, 50, 50))
    assert written.count == 1 and written.path == str(out)
    assert written.to_text() == f"exported 1 ROIs of layer 'a' as geojson to {out}"
    assert json.loads(out.read_text()) == json.loads(written.text)
    with pytest.raises(InputError, match="unknown ROI format"):
        export_rois(image, layer="a", format="svg")


def test_cytomine_round_trip_flips_with_the_image_height(image, tmp_path):
    anns = tmp_path / "anns.json"
    anns.write_text(json.dumps([{"id": 3, "location": "POINT (10 70)", "term": ["Stroma"]}]))
    result = import_rois(anns, image, layer="cy", format="cytomine")
    assert result.format == "cytomine"
    df = rois.read_rois(image, "cy")
    assert df["geometry"][0].equals(shapely.Point(10, 30))  # height 100: y' = 100 - 70
    back = json.loads(export_rois(image, layer="cy", format="cytomine").text)
    assert shapely.from_wkt(back["collection"][0]["location"]).equals(shapely.Point(10, 70))


def test_cli_append_rerun_says_nothing_to_do(image, wkt, capsys):
    argv = ["rois", "import", image, str(wkt), "--layer", "a", "--append"]
    assert main(argv) == 0
    assert "added 2 ROIs (wkt)" in capsys.readouterr().out  # --append says added, even to a new layer
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("nothing to do: these 2 ROIs were already added to layer 'a'")
