"""``ngffstore evaluate``: outputs, a LocalCluster run, and one-line errors that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ngffstore.cli import main


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> Path:
    """A 1 x 2 plate, one 96 x 80 field per well, labels ``truth`` and ``pred``."""
    from ngffstore.labels import write_labels
    from ngffstore.plate import write_plate

    root = tmp_path_factory.mktemp("evalcli") / "plate.ome.zarr"
    blank = np.zeros((96, 80), dtype=np.uint8)
    write_plate([("A", "1", 0, blank), ("A", "2", 0, blank)], str(root), axes="yx", levels=1,
                scheduler="synchronous", progress=False)
    truth = np.zeros((96, 80), dtype=np.uint16)
    truth[5:15, 5:15], truth[30:40, 30:45], truth[60:80, 10:20] = 1, 2, 3
    for column, pred in (("1", truth.copy()), ("2", np.where(truth == 3, 0, truth))):
        url = str(root / "A" / column / "0")
        write_labels(truth, url, name="truth", scheduler="synchronous", progress=False)
        write_labels(pred, url, name="pred", scheduler="synchronous", progress=False)
    return root


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_plate_csv_plot_json_and_stored_table(plate, tmp_path, capsys):
    csv, png = tmp_path / "out.csv", tmp_path / "out.png"
    code, out, err = run(capsys, "evaluate", str(plate), "-p", "labels:pred", "-t", "labels:truth",
                         "--table", "ev1", "-o", str(csv), "--plot", str(png), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["images"] == 2 and doc["table"] == "ev1" and doc["stored"] == [str(plate)]
    s = doc["summary"][0]
    assert (s["tp"], s["fp"], s["fn"]) == (5, 0, 1) and s["recall"] == pytest.approx(5 / 6)
    table = pd.read_csv(csv)
    assert list(table["well"]) == ["A01", "A02"] and list(table["f1"]) == [1.0, pytest.approx(0.8)]
    assert png.stat().st_size > 300
    code, out, err = run(capsys, "meta", "table", str(plate), "ev1-summary")
    assert code == 0 and "images" in out
    code, out, _ = run(capsys, "provenance", str(plate), "--last", "1", "--json")
    rec = json.loads(out)[0]
    assert rec["operation"] == "evaluate" and {i["role"] for i in rec["inputs"]} == {"prediction", "truth"}


def test_local_cluster(plate, capsys):
    code, out, err = run(capsys, "evaluate", str(plate), "-p", "pred", "-t", "truth", "--no-table",
                         "--local-cluster", "1", "--threshold", "0.9")
    assert code == 0, err
    assert "2 image(s), IoU > 0.9" in out and "TP 5  FP 0  FN 1" in out


@pytest.mark.parametrize(
    ("args", "match", "exit_code"),
    [
        (["-p", "labels:nope", "-t", "truth"], "no plate field under .* has both the prediction 'labels:nope'", 1),
        (["-p", "pred", "-t", "truth", "--threshold", "1.5"], r"IoU threshold must be in \[0, 1\)", 1),
        (["-p", "pred", "-t", "truth", "--per-term"], "per-term evaluation needs two ROI layers", 1),
        (["-p", "pred", "-t", "truth", "--table", "a/b"], "table name 'a/b' is not allowed", 1),
        (["-p", "pred", "-t", "truth", "-o", "/nonexistent-folder/x.csv"], "does not exist", 1),
        (["-p", "pred", "-t", "truth", "--scheduler", "bogus"], "unknown scheduler 'bogus'", 2),
    ],
)
def test_bad_input_one_line_nothing_written(plate, capsys, args, match, exit_code):
    import re

    before = files(plate)
    code, _, err = run(capsys, "evaluate", str(plate), *args)
    assert code == exit_code
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ngffstore evaluate: error:"), err
    assert re.search(match, lines[0]), lines[0]
    assert files(plate) == before


def test_empty_collection(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "evaluate", str(tmp_path / "empty"), "-p", "a", "-t", "b")
    assert code == 1 and "nothing to evaluate" in err and len(err.strip().splitlines()) == 1


def test_plate_on_s3(s3_bucket, s3_env, capsys):
    from ngffstore.labels import write_labels
    from ngffstore.metadata import read_table
    from ngffstore.plate import write_plate

    url = f"s3://{s3_bucket}/plate.ome.zarr"
    options = {"endpoint_url": s3_env["AWS_ENDPOINT_URL"]}
    blank = np.zeros((40, 48), dtype=np.uint8)
    write_plate([("A", "1", 0, blank)], url, axes="yx", levels=1, scheduler="synchronous",
                progress=False, storage_options=options)
    truth = np.zeros((40, 48), dtype=np.uint16)
    truth[2:12, 2:12], truth[20:30, 20:40] = 1, 2
    for name, data in (("truth", truth), ("pred", np.where(truth == 2, 0, truth))):
        write_labels(data, f"{url}/A/1/0", name=name, scheduler="synchronous", progress=False, storage_options=options)
    code, out, err = run(capsys, "evaluate", url, "-p", "pred", "-t", "truth", "--table", "ev")
    assert code == 0, err
    assert "TP 1  FP 0  FN 1" in out
    assert read_table(url, "ev", storage_options=options)["recall"].tolist() == [0.5]
