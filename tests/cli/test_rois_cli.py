"""`ngffstore rois ...` and `ngffstore crop` from the command line: local, S3 and bad input."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import shapely
from PIL import Image as PILImage

import ngffstore
from ngffstore import rois
from ngffstore.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


POLY = shapely.Polygon(
    [(40, 30), (120, 40), (100, 110), (35, 90)], [[(60, 55), (80, 55), (80, 75), (60, 75)]]
)


@pytest.fixture
def image(tmp_path):
    ii, jj = np.mgrid[0:160, 0:200]
    data = np.where(shapely.contains_xy(POLY, jj + 0.5, ii + 0.5), 250, 20).astype(np.uint8)
    url = tmp_path / "img.zarr"
    ngffstore.write_image(data, str(url), progress=False, chunks=64, min_size=32)
    return url


@pytest.fixture
def geojson(tmp_path):
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": "u-1",
                "geometry": json.loads(shapely.to_geojson(POLY)),
                "properties": {
                    "classification": {"name": "Tumor", "color": [255, 0, 0]},
                    "score": 0.9,
                },
            },
            {
                "type": "Feature",
                "id": "u-2",
                "geometry": {"type": "Point", "coordinates": [10.5, 12.5]},
                "properties": {"classification": {"name": "Stroma"}},
            },
        ],
    }
    path = tmp_path / "rois.geojson"
    path.write_text(json.dumps(doc))
    return path


def test_import_list_export_stats(tmp_path, capsys, image, geojson):
    code, out, err = run(
        capsys,
        "rois",
        "import",
        image,
        geojson,
        "--layer",
        "qp",
        "--author",
        "alice",
        "--term",
        "reviewed-by-bob",
    )
    assert code == 0, err
    assert "imported 2 ROIs (geojson) into layer 'qp'" in out
    code, out, _ = run(capsys, "rois", "list", image)
    assert "qp" in out and "Tumor 1" in out and "by alice" in out
    code, out, _ = run(capsys, "rois", "list", image, "--json")
    doc = json.loads(out)
    assert doc["layers"]["qp"]["terms"] == {"Stroma": 1, "Tumor": 1, "reviewed-by-bob": 2}

    out_file = tmp_path / "out.geojson"
    code, _, err = run(
        capsys, "rois", "export", image, "--layer", "qp", "--format", "geojson", "-o", out_file
    )
    assert code == 0, err
    exported = json.loads(out_file.read_text())
    assert [f["id"] for f in exported["features"]] == ["u-1", "u-2"]
    assert shapely.equals(shapely.geometry.shape(exported["features"][0]["geometry"]), POLY)
    assert exported["features"][0]["properties"]["classification"]["names"] == [
        "Tumor",
        "reviewed-by-bob",
    ]

    code, out, _ = run(
        capsys, "rois", "export", image, "--layer", "qp", "--format", "wkt", "--bbox", "0,0,20,20"
    )
    assert out == "POINT (10.5 12.5)\n"
    code, out, _ = run(
        capsys, "rois", "export", image, "--layer", "qp", "--format", "cytomine", "--term", "Tumor"
    )
    doc = json.loads(out)
    assert len(doc["collection"]) == 1
    flipped = shapely.from_wkt(doc["collection"][0]["location"])
    assert shapely.equals(
        flipped, shapely.affinity.scale(POLY, 1, -1, origin=(0, 80))
    )  # y' = 160 - y

    code, out, _ = run(capsys, "rois", "stats", image)
    rows = list(csv.DictReader(io.StringIO(out)))
    tumor = next(r for r in rows if r["term"] == "Tumor")
    assert int(tumor["count"]) == 1 and float(tumor["area_px"]) == pytest.approx(POLY.area)


def test_import_cytomine_with_ontology(tmp_path, capsys, image):
    onto = tmp_path / "onto.json"
    onto.write_text(
        json.dumps([{"id": 1, "name": "Tumor", "color": "#ff0000"}, {"id": 2, "name": "Stroma"}])
    )
    anns = tmp_path / "anns.json"
    anns.write_text(json.dumps([{"id": 9, "location": "POINT (10 150)", "term": [2]}]))
    code, _out, err = run(
        capsys,
        "rois",
        "import",
        image,
        anns,
        "--layer",
        "cy",
        "--ontology",
        onto,
        "--kind",
        "reviewed",
    )
    assert code == 0, err
    df = rois.read_rois(str(image), "cy")
    assert (
        df["geometry"][0].equals(shapely.Point(10, 10))
        and df["terms"][0] == ["Stroma"]
        and df["id"][0] == 9
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"location": "POINT (10 150)", "term": ["Necrosis"]}]))
    code, _, err = run(
        capsys,
        "rois",
        "import",
        image,
        bad,
        "--layer",
        "cy2",
        "--ontology",
        onto,
        "--format",
        "cytomine",
    )
    assert code == 1 and "unknown term 'Necrosis'" in err and err.count("\n") == 1


def test_bad_input_one_line_and_nothing_written(tmp_path, capsys, image, geojson):
    assert run(capsys, "rois", "import", image, geojson, "--layer", "qp")[0] == 0
    before = rois.list_roi_layers(str(image))
    wkt = tmp_path / "bad.wkt"
    wkt.write_text("POINT (1 1)\nPOLYGON ((0 0, 1 1\n")
    outside = tmp_path / "outside.wkt"
    outside.write_text("POINT (1 1)\nPOINT (5000 5000)\n")
    bowtie = tmp_path / "bowtie.wkt"
    bowtie.write_text("POLYGON ((10 10, 50 50, 50 10, 10 50, 10 10))\n")
    cases = [
        (("rois", "import", image, wkt, "--layer", "qp", "--overwrite"), "line 2: invalid WKT"),
        (
            ("rois", "import", image, outside, "--layer", "qp", "--overwrite"),
            "line 2: the geometry",
        ),
        (("rois", "import", image, geojson, "--layer", "qp"), "already exists"),
        (("rois", "import", image, geojson, "--layer", "../evil"), "layer name '../evil' is not allowed"),
        (("rois", "import", image, tmp_path / "missing.geojson", "--layer", "x"), "does not exist"),
        (
            ("rois", "import", image, bowtie, "--layer", "bt", "--no-repair"),
            "line 1: invalid geometry (Self-intersection",
        ),
        (("rois", "export", image, "--layer", "nope", "--format", "wkt"), "no ROI layer 'nope'"),
        (("crop", image, "--roi", "77", "-o", tmp_path / "c.png"), "no ROI with id 77"),
        (("rois", "stats"), "give one or more image URLs"),
    ]
    for argv, message in cases:
        code, _, err = run(capsys, *argv)
        assert code != 0, argv
        assert message in err, (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
    assert rois.list_roi_layers(str(image)) == before
    code, _out, err = run(capsys, "rois", "import", image, bowtie, "--layer", "bt")
    assert code == 0 and "warning: repaired 1 invalid geometry" in err and "line 1" in err


def test_crop_cli(tmp_path, capsys, image, geojson):
    assert run(capsys, "rois", "import", image, geojson, "--layer", "qp")[0] == 0
    png = tmp_path / "crop.png"
    code, out, err = run(capsys, "crop", image, "--roi", 1, "-o", png)
    assert code == 0, err
    assert "ROI 1, level 0, x=35 y=30 w=85 h=80" in out
    rgb = np.asarray(PILImage.open(png))
    assert rgb.shape == (80, 85, 3)
    code, out, err = run(
        capsys, "crop", image, "--roi", 1, "--layer", "qp", "--mask", "-o", tmp_path / "m.png"
    )
    assert code == 0, err
    mask = np.asarray(PILImage.open(tmp_path / "m.png")) > 0
    ii, jj = np.mgrid[0:80, 0:85]
    assert np.array_equal(mask, shapely.contains_xy(POLY, 35 + jj + 0.5, 30 + ii + 0.5))
    code, out, err = run(
        capsys, "crop", image, "--roi", 1, "--alpha", "--max-size", 30, "-o", tmp_path / "a.png"
    )
    assert code == 0, err
    rgba = np.asarray(PILImage.open(tmp_path / "a.png"))
    assert rgba.shape[2] == 4 and max(rgba.shape[:2]) == 30 and "level 1" in out
    assert 0 < (rgba[..., 3] > 0).sum() < rgba[..., 3].size
    code, out, err = run(
        capsys, "crop", image, "--roi", 1, "--increase-area", "2", "-o", tmp_path / "c.npy"
    )
    assert code == 0, err
    assert np.load(tmp_path / "c.npy").shape == (
        150,
        163,
    )  # 160 x 170 about the centre, clipped at 0


def test_from_labels_and_rasterize_cli(tmp_path, capsys, image):
    lab = np.zeros((160, 200), dtype=np.uint8)
    lab[10:40, 20:60] = 3
    lab[100:150, 100:190] = 4
    npy = tmp_path / "lab.npy"
    np.save(npy, lab)
    code, _, err = run(capsys, "labels", "add", image, npy, "--name", "cells", "--no-progress")
    assert code == 0, err
    code, out, err = run(capsys, "rois", "from-labels", image, "cells", "--layer", "cells")
    assert code == 0, err
    assert "wrote 2 polygons" in out
    df = rois.read_rois(str(image), "cells")
    assert shapely.equals(df["geometry"][0], shapely.box(20, 10, 60, 40))
    code, out, err = run(capsys, "rois", "rasterize", image, "--layer", "cells", "--name", "again")
    assert code == 0, err
    from ngffstore.labels import open_labels

    assert np.array_equal(open_labels(str(image), "again").to_dask(0).compute(), lab)
    code, out, err = run(capsys, "rois", "delete", image, "--layer", "cells")
    assert code == 0 and "cells" not in rois.list_roi_layers(str(image))


def test_cli_on_s3(tmp_path, capsys, s3_env, s3_bucket, geojson):
    import fsspec

    local = tmp_path / "img.zarr"
    ngffstore.write_image(np.zeros((160, 200), dtype=np.uint8), str(local), progress=False)
    fsspec.filesystem("s3").put(str(local), f"{s3_bucket}/img.zarr", recursive=True)
    url = f"s3://{s3_bucket}/img.zarr"
    code, out, err = run(capsys, "rois", "import", url, geojson, "--layer", "qp")
    assert code == 0, err
    code, out, err = run(capsys, "rois", "export", url, "--layer", "qp", "--format", "csv")
    assert code == 0 and out.startswith("id,terms,wkt,properties\n1,Tumor,")
    code, out, err = run(capsys, "crop", url, "--roi", 2, "--mask", "-o", tmp_path / "p.png")
    assert code == 0, err
    code, out, err = run(capsys, "rois", "stats", "--collection", f"s3://{s3_bucket}")
    assert code == 0 and "img.zarr,qp,Tumor,1," in out
