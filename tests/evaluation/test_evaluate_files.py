"""``evaluate(..., csv=, plot=)``: the files are checked before any work, written after it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ngffstore
from ngffstore.errors import InputError
from ngffstore.evaluation import evaluate
from ngffstore.labels import write_labels


@pytest.fixture(scope="module")
def image_url(tmp_path_factory):
    url = str(tmp_path_factory.mktemp("evalfiles") / "img.zarr")
    truth = np.zeros((40, 50), dtype=np.uint16)
    truth[5:15, 5:15], truth[20:35, 25:45] = 1, 2
    pred = truth.copy()
    pred[20:35, 25:45] = 0  # one object missed
    ngffstore.write_image(np.zeros((40, 50), dtype=np.uint8), url, progress=False)
    write_labels(truth, url, name="truth", scheduler="synchronous", progress=False)
    write_labels(pred, url, name="pred", scheduler="synchronous", progress=False)
    return url


def test_csv_and_plot_written_and_said(image_url, tmp_path):
    csv, png = tmp_path / "t.csv", tmp_path / "f1.png"
    result = evaluate(image_url, prediction="pred", truth="truth", csv=csv, plot=png, scheduler="synchronous")
    assert result.written == (str(csv), str(png))
    table = pd.read_csv(csv)
    assert len(table) == 1 and int(table["tp"][0]) == 1 and int(table["fn"][0]) == 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.to_text().splitlines()[-2:] == [f"wrote {csv}", f"wrote {png}"]


def test_without_files_nothing_is_said(image_url):
    result = evaluate(image_url, prediction="pred", truth="truth", scheduler="synchronous")
    assert result.written == () and "wrote" not in result.to_text()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"csv": "t.txt"}, "must end with .csv"),
        ({"plot": "f1.jpg"}, "must end with .png"),
        ({"csv": "missing/t.csv"}, "does not exist; create it first"),
    ],
)
def test_bad_file_refused_before_evaluating(tmp_path, kw, message):
    kw = {k: str(tmp_path / v) for k, v in kw.items()}
    # the URL does not exist: the file check must come first
    with pytest.raises(InputError, match=message):
        evaluate(str(tmp_path / "nothing.zarr"), prediction="pred", truth="truth", **kw)
