"""The examples/ scripts, run in-process on a tiny demo collection (one on a real LocalCluster)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SIZE = 384


def example(name: str):
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from ngffstore.demo import build_demo

    root = tmp_path_factory.mktemp("demo")
    return build_demo(str(root / "demo"), size=SIZE, scheduler="threads", progress=False)


def test_plate_heatmap(demo, tmp_path, capsys):
    code = example("plate_heatmap").main([demo.plate, "--scheduler", "threads", "--out", str(tmp_path)])
    assert code == 0
    table = pd.read_csv(tmp_path / "plate_heatmap.csv")
    assert len(table) == 6 * 2 and set(table["channel"]) == {"DAPI", "GFP"}
    assert (table["fields"] == 2).all() and (table["mean"] > 250).all()
    gfp = table[table["channel"] == "GFP"].groupby("column")["mean"].mean()
    assert gfp.loc[3] > gfp.loc[1]  # the dose raises GFP
    from PIL import Image

    with Image.open(tmp_path / "plate_heatmap.png") as im:
        assert im.size[0] > 200 and len(set(im.getdata())) > 5


def test_tiled_segmentation_on_local_cluster(demo, tmp_path, capsys):
    from ngffstore.demo.samples import Cells
    from ngffstore.image import open_image
    from ngffstore.labels import open_labels
    from ngffstore.rois import read_rois_attrs

    code = example("tiled_segmentation").main([demo.image, "--out", str(tmp_path)])  # default: LocalCluster
    assert code == 0, capsys.readouterr().err
    image = open_image(demo.image)
    labels = open_labels(demo.image, "nuclei-adaptive")
    data = labels.to_dask(0).compute().reshape(SIZE, SIZE)
    found = len(np.unique(data)) - 1
    cells = Cells.random(SIZE, SIZE, seed=0)
    assert 0.6 * len(cells.cy) <= found <= 1.1 * len(cells.cy)
    assert found == np.max(data)  # consecutive 1..n
    # a nucleus crossing a block border gets one label
    chunk = image.levels[0].chunks[-1] if hasattr(image.levels[0], "chunks") else 256
    crossing = [i for i in range(len(cells.cy))
                if abs(cells.cx[i] - chunk) < cells.r[i] * 0.5 and cells.cy[i] > 20 and cells.cy[i] < SIZE - 20]
    assert crossing, "the sample has a nucleus on the block border"
    for i in crossing:
        y, x = int(cells.cy[i]), int(cells.cx[i])
        patch = data[y - 3 : y + 4, x - 6 : x + 7]
        values = set(np.unique(patch)) - {0}
        assert len(values) == 1, (i, values)
    layer = read_rois_attrs(demo.image).layers["adaptive-threshold"]
    assert layer.kind == "algorithm" and layer.count == found and dict(layer.terms)["nucleus"] == found
    assert any(r.get("operation") for r in labels.provenance)


def test_region_measurements(demo, tmp_path):
    code = example("region_measurements").main([demo.image, "--scheduler", "synchronous", "--out", str(tmp_path)])
    assert code == 0
    table = pd.read_parquet(tmp_path / "region_measurements.parquet")
    assert len(table) == demo.nuclei
    assert {"label", "area_px", "mean_DAPI", "max_Spots", "class"} <= set(table.columns)
    assert (table["mean_DAPI"] > 1000).all()  # nuclei are bright in DAPI
    assert (table["class"] == "nucleus").all()


def test_term_statistics(demo, tmp_path):
    code = example("term_statistics").main([demo.root, "--scheduler", "threads", "--out", str(tmp_path)])
    assert code == 0
    table = pd.read_csv(tmp_path / "term_statistics.csv")
    total = table[table["image"] == "*"].set_index(["layer", "term"])
    assert total.loc[("annotations", "artifact"), "count"] == 1
    assert total.loc[("annotations", "mitosis"), "count"] == 1
    assert total.loc[("nuclei", "nucleus"), "count"] == demo.nuclei
    assert (table["area_px"] > 0).all()


SCRIPTS = ("plate_heatmap", "region_measurements", "term_statistics", "tiled_segmentation")


@pytest.mark.parametrize("name", SCRIPTS)
def test_missing_store_is_one_line_and_non_zero(name, tmp_path):
    """Run as a user would: a store URL with nothing at it -> one line on stderr, exit 1, no output."""
    import subprocess

    missing = tmp_path / "no-such-store.ome.zarr"
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), str(missing), "--scheduler", "synchronous", "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"{name}.py: error: ") and str(missing) in lines[0]
    assert proc.stdout == "" and not out.exists()


@pytest.mark.parametrize(
    ("name", "node", "says"),
    [
        ("plate_heatmap", "image", "not a plate"),
        ("tiled_segmentation", "plate", "not an image"),
        ("region_measurements", "plate", "not an image"),
    ],
)
def test_wrong_kind_of_node_is_one_line(demo, tmp_path, capsys, name, node, says):
    code = example(name).main([getattr(demo, node), "--scheduler", "synchronous", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_label_image_is_one_line(demo, tmp_path, capsys):
    code = example("region_measurements").main(
        [demo.image, "--labels", "no-such-label", "--scheduler", "synchronous", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 1 and "no-such-label" in err and len(err.strip().splitlines()) == 1


def test_term_statistics_of_a_folder_without_images_fails(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = example("term_statistics").main([str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "no image with ROI layers" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_unknown_scheduler_is_one_line(demo, tmp_path, capsys):
    code = example("plate_heatmap").main([demo.plate, "--scheduler", "nonsense", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "unknown scheduler 'nonsense'" in err and len(err.strip().splitlines()) == 1
