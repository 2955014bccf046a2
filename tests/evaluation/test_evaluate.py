"""ngffstore.evaluation (and ngffstore.evaluate): hand-computed cases, properties, an independent reference, block-wise
gathering, the store runner (image, plate, collection) and the demo-plate example."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ngffstore.evaluation import (
    MAP_THRESHOLDS,
    count_block,
    from_points,
    gather,
    match,
    merge,
    overlaps,
    score,
)


def canvas(h: int = 12, w: int = 20) -> np.ndarray:
    return np.zeros((h, w), dtype=np.uint16)


def scores(truth, pred, **kw):
    return score(overlaps(truth, pred), **kw)


# ---------------------------------------------------------------------------------------------
# hand-computed cases
# ---------------------------------------------------------------------------------------------
def test_split_object_one_part_matches():
    truth, pred = canvas(), canvas()
    truth[0:4, 0:8] = 5  # 32 px
    pred[0:4, 0:6] = 1  # 24 px, IoU 24/32 = 0.75
    pred[0:4, 6:8] = 2  # 8 px, IoU 8/32 = 0.25
    s = scores(truth, pred)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0)
    assert s["precision"] == 0.5 and s["recall"] == 1.0 and s["f1"] == pytest.approx(2 / 3)
    assert s["mean_iou"] == pytest.approx(0.75)
    assert s["pq"] == pytest.approx(0.75 / (1 + 0.5 + 0))
    # IoU 0.75 is above 0.50 ... 0.70 (TP/(TP+FP+FN) = 1/2) and not above 0.75 ... 0.95 (0/3)
    assert s["map"] == pytest.approx(5 * 0.5 / 10)
    assert s["dice"] == 1.0 and s["pixel_iou"] == 1.0
    assert s["count_error"] == 1.0
    # centroids: truth (2, 4), parts (2, 3) and (2, 7): both within 5 px, one is matched
    assert (s["det_tp"], s["det_fp"], s["det_fn"]) == (1, 1, 0)


def test_split_in_halves_matches_nothing():
    truth, pred = canvas(), canvas()
    truth[0:4, 0:8] = 1
    pred[0:4, 0:4], pred[0:4, 4:8] = 1, 2  # IoU exactly 0.5: not above the threshold
    s = scores(truth, pred)
    assert (s["tp"], s["fp"], s["fn"]) == (0, 2, 1)
    assert s["f1"] == 0.0 and s["map"] == 0.0 and s["pq"] == 0.0 and s["mean_iou"] == 0.0
    assert scores(truth, pred, threshold=0.4)["tp"] == 1


def test_merged_objects():
    truth, pred = canvas(), canvas()
    truth[0:4, 0:4], truth[0:4, 4:8] = 1, 2
    pred[0:4, 0:8] = 7
    s = scores(truth, pred)
    assert (s["tp"], s["fp"], s["fn"]) == (0, 1, 2)
    assert s["dice"] == 1.0 and s["count_error"] == 0.5
    truth[0:4, 6:8] = 0  # truth 2 is now 4 x 2
    pred[0:4, 7:8] = 0  # the merge is 4 x 7: IoU(1, 7) = 16/28 > 0.5, IoU(2, 7) = 8/28
    s = scores(truth, pred)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 1)
    assert s["mean_iou"] == pytest.approx(16 / 28)
    assert s["dice"] == pytest.approx(2 * 24 / (24 + 28))
    assert s["pixel_iou"] == pytest.approx(24 / 28)


def test_missed_and_extra_objects():
    truth, pred = canvas(), canvas()
    truth[0:4, 0:4] = 1
    pred[0:4, 0:4] = 3  # a perfect match
    truth[6:10, 0:4] = 2  # missed
    pred[6:10, 10:14] = 4  # extra
    s = scores(truth, pred)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 1)
    assert s["precision"] == s["recall"] == s["f1"] == 0.5
    assert s["map"] == pytest.approx(1 / 3)
    assert s["mean_iou"] == 1.0 and s["pq"] == pytest.approx(1 / 2)
    assert s["dice"] == pytest.approx(2 * 16 / 64) and s["pixel_iou"] == pytest.approx(16 / 48)
    assert (s["det_tp"], s["det_fp"], s["det_fn"]) == (1, 1, 1)
    assert s["count_error"] == 0.0


def test_empty_images_both_ways():
    truth, pred = canvas(), canvas()
    both = scores(truth, pred)
    assert both["truth_objects"] == both["pred_objects"] == 0
    assert all(both[k] == 1.0 for k in ("precision", "recall", "f1", "map", "mean_iou", "pq", "dice", "pixel_iou", "det_f1"))
    assert both["count_error"] == 0.0
    truth[2:5, 2:5] = 1
    missed = scores(truth, pred)  # nothing predicted
    assert (missed["tp"], missed["fp"], missed["fn"]) == (0, 0, 1)
    assert missed["precision"] == missed["recall"] == missed["f1"] == missed["map"] == 0.0
    assert missed["dice"] == 0.0 and missed["count_error"] == 1.0
    extra = scores(pred, truth)  # nothing true
    assert (extra["tp"], extra["fp"], extra["fn"]) == (0, 1, 0)
    assert extra["f1"] == 0.0 and math.isinf(extra["count_error"])


def test_detection_gating_distance_and_points():
    t = from_points(np.array([[10.0, 10.0], [50.0, 50.0]]), np.array([[13.0, 14.0], [50.0, 58.0], [90.0, 90.0]]))
    s = score(t)  # distances 5 (within, edge included) and 8 (outside)
    assert (s["det_tp"], s["det_fp"], s["det_fn"]) == (1, 2, 1)
    assert math.isnan(s["f1"]) and math.isnan(s["dice"])  # points: no object/pixel scores
    assert score(t, distance=8)["det_tp"] == 2
    assert s["count_error"] == 0.5


def test_matching_is_optimal_not_greedy():
    # truth 0 overlaps pred 0 (0.9) and pred 1 (0.6); truth 1 overlaps only pred 0 (0.7):
    # greedy by IoU takes (0, 0) and leaves truth 1 alone; the optimum matches both
    ti, pi, _ = match(np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([0.9, 0.6, 0.7]))
    assert sorted(zip(ti.tolist(), pi.tolist())) == [(0, 1), (1, 0)]


# ---------------------------------------------------------------------------------------------
# properties and an independent reference
# ---------------------------------------------------------------------------------------------
def random_labels(rng: np.random.Generator, shape=(96, 128), n=25, max_r=9) -> np.ndarray:
    out = np.zeros(shape, dtype=np.uint32)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for k in range(1, n + 1):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        ry, rx = rng.uniform(2, max_r, size=2)
        out[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = rng.integers(1, 1000) if k % 3 else k
    return out


def jitter(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """A plausible prediction: shifted, some objects dropped, some merged, one extra."""
    out = np.roll(labels, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1)).copy()
    ids = np.unique(out)[1:]
    for v in rng.choice(ids, size=min(3, len(ids)), replace=False):
        out[out == v] = 0
    if len(ids) > 5:
        out[out == ids[-1]] = ids[-2]
    out[rng.integers(0, 80) : rng.integers(82, 90), 0:6] = 5000
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 30))
def test_identical_and_swapped(seed, n):
    rng = np.random.default_rng(seed)
    truth = random_labels(rng, shape=(64, 80), n=n)
    same = scores(truth, truth)
    assert same["f1"] == same["dice"] == same["map"] == same["mean_iou"] == same["pq"] == 1.0
    assert same["det_f1"] == 1.0 and same["count_error"] == 0.0
    pred = jitter(rng, truth)
    a, b = scores(truth, pred), scores(pred, truth)
    assert a["precision"] == b["recall"] and a["recall"] == b["precision"]
    assert a["det_precision"] == b["det_recall"] and a["f1"] == b["f1"] and a["dice"] == b["dice"]


def reference(truth: np.ndarray, pred: np.ndarray, threshold: float) -> tuple[int, float]:
    """TP and mean matched IoU from scikit-image's contingency table and a dense assignment."""
    from scipy.optimize import linear_sum_assignment
    from skimage.metrics import contingency_table

    table = contingency_table(truth, pred).tocsr()
    t_ids, p_ids = np.unique(truth)[1:], np.unique(pred)[1:]
    inter = table[t_ids][:, p_ids].toarray().astype(float)
    area_t = np.asarray(table[t_ids].sum(axis=1), float).reshape(-1, 1)[:, 0]
    area_p = np.asarray(table[:, p_ids].sum(axis=0), float).reshape(-1)
    iou = inter / (area_t[:, None] + area_p[None, :] - inter)
    hit = iou > threshold
    r, c = linear_sum_assignment(hit, maximize=True)
    ok = hit[r, c]
    tp = int(ok.sum())
    if threshold >= 0.5:  # matches are unique: their IoU is determined
        return tp, float(iou[r, c][ok].mean()) if tp else 0.0
    return tp, float("nan")


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_reference(seed):
    rng = np.random.default_rng(100 + seed)
    truth = random_labels(rng, n=40, max_r=12)  # overlapping ellipses: splits and merges
    pred = random_labels(rng, n=30, max_r=12) if seed % 2 else jitter(rng, truth)
    ov = overlaps(truth, pred)
    for t in (0.1, 0.3, 0.5, 0.7):
        tp, miou = reference(truth, pred, t)
        s = score(ov, threshold=t)
        assert s["tp"] == tp, t
        if t >= 0.5:
            assert s["mean_iou"] == pytest.approx(miou)
    aps = []
    for t in MAP_THRESHOLDS:
        tp, _ = reference(truth, pred, t)
        aps.append(tp / (ov.n_truth + ov.n_pred - tp))
    assert score(ov)["map"] == pytest.approx(np.mean(aps))
    inter = ((truth > 0) & (pred > 0)).sum()
    assert score(ov)["dice"] == pytest.approx(2 * inter / ((truth > 0).sum() + (pred > 0).sum()))


def test_centroids_and_areas_agree_with_regionprops():
    from skimage.measure import regionprops

    rng = np.random.default_rng(7)
    truth = random_labels(rng)
    ov = overlaps(truth, np.zeros_like(truth))
    props = {r.label: r for r in regionprops(truth.astype(np.int64))}
    assert sorted(props) == ov.truth_ids.tolist()
    for i, v in enumerate(ov.truth_ids):
        assert ov.truth_area[i] == props[v].area
        np.testing.assert_allclose(ov.truth_centroid[i], np.array(props[v].centroid) + 0.5)


def test_blockwise_gather_equals_whole_image():
    import dask.array as da

    rng = np.random.default_rng(3)
    truth = random_labels(rng, shape=(100, 130), n=40)
    pred = jitter(rng, truth)
    whole = count_block(truth, pred)
    lazy = gather(da.from_array(truth, chunks=(17, 29)), da.from_array(pred, chunks=(17, 29)))
    blocks = lazy.compute(scheduler="synchronous")
    for a, b in zip(whole, blocks):
        np.testing.assert_allclose(a, b)
    assert merge() [0].size == 0
    big = truth.astype(np.int64) * 10**12  # ids beyond 32 bits take the compacting path
    ov_big = overlaps(big, pred)
    np.testing.assert_array_equal(ov_big.truth_ids, np.unique(big)[1:])
    assert score(ov_big) == score(overlaps(truth, pred))
    shifted = np.where(truth > 0, truth.astype(np.int64) + 150_000, 0)  # dense counting, shifted ids
    ov_shift = overlaps(shifted, pred)
    np.testing.assert_array_equal(ov_shift.truth_ids, np.unique(shifted)[1:])
    assert score(ov_shift) == score(overlaps(truth, pred))


# ---------------------------------------------------------------------------------------------
# the store: an image, a plate, a collection (the demo collection, small)
# ---------------------------------------------------------------------------------------------
import json
import os
import shutil
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    """The demo collection, plus a prediction ``pred`` on the image and on every plate field:
    the truth with its first object removed, and (in column 3) every other object removed."""
    from ngffstore.demo import build_demo
    from ngffstore.image import open_image
    from ngffstore.labels import open_labels, write_labels
    from ngffstore.plate import open_plate

    root = tmp_path_factory.mktemp("evaldemo") / "demo"
    report = build_demo(str(root), size=256, scheduler="synchronous", progress=False)

    def predict(url: str, drop_every_other: bool) -> None:
        truth = np.asarray(open_labels(url, "nuclei").to_dask(0).compute())
        pred = truth.copy()
        ids = np.unique(truth)[1:]
        drop = ids[::2] if drop_every_other else ids[:1]
        pred[np.isin(pred, drop)] = 0
        write_labels(pred, url, name="pred", scheduler="synchronous", progress=False)

    predict(report.image, False)
    plate = open_plate(report.plate)
    for ref in plate.wells:
        for image in plate.well(ref.row, ref.column).fields:
            predict(image.url, ref.column == "3")
    assert open_image(report.image).labels == ("nuclei", "pred")
    return root


@pytest.fixture
def demo(demo_template, tmp_path):
    dest = tmp_path / "demo"
    shutil.copytree(demo_template, dest)
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def in_memory(url: str, truth: str = "nuclei", pred: str = "pred"):
    from ngffstore.labels import open_labels

    t = np.asarray(open_labels(url, truth).to_dask(0).compute())
    p = np.asarray(open_labels(url, pred).to_dask(0).compute())
    return score(overlaps(t, p))


def test_image_labels_stored_with_provenance(demo):
    import ngffstore
    from ngffstore.metadata import read_table
    from ngffstore.provenance import read_provenance

    image = str(demo / "cells.ome.zarr")
    result = ngffstore.evaluate(image, prediction="labels:pred", truth="labels:nuclei", table=True,
                                scheduler="synchronous")
    row = result.table.iloc[0]
    expected = in_memory(image)
    for k, v in expected.items():
        assert row[k] == pytest.approx(v), k
    assert row["fn"] == 1 and row["fp"] == 0 and row["tp"] == row["truth_objects"] - 1
    stored = read_table(image, result.table_name)
    assert len(stored) == 1 and stored["f1"].iloc[0] == pytest.approx(row["f1"])
    rec = read_provenance(image)[-1].to_dict()
    assert rec["operation"] == "evaluate"
    roles = {i["role"]: i for i in rec["inputs"]}
    assert roles["prediction"]["source"] == "labels:pred" and roles["truth"]["source"] == "labels:nuclei"
    assert roles["truth"]["path"].endswith("cells.ome.zarr/labels/nuclei")
    # the same table again needs overwrite, and nothing is written when refused
    before = snapshot(demo)
    with pytest.raises(ngffstore.OutputExistsError, match="already has a table"):
        ngffstore.evaluate(image, prediction="labels:pred", truth="labels:nuclei", table=True)
    assert snapshot(demo) == before


def test_plate_fields_summary_and_heatmap(demo, tmp_path):
    from PIL import Image

    from ngffstore.evaluation import evaluate
    from ngffstore.metadata import read_table

    plate = str(demo / "plate.ome.zarr")
    result = evaluate(plate, prediction="pred", truth="nuclei", table="eval", scheduler="threads")
    t = result.table
    assert len(t) == 12 and set(t["well"]) == {f"{r}0{c}" for r in "AB" for c in "123"}
    for _, row in t.iterrows():
        assert row["tp"] + row["fn"] == row["truth_objects"] and row["fp"] == 0
    col3 = t[t["column"] == "3"]["recall"].mean()
    assert col3 < t[t["column"] != "3"]["recall"].mean()
    one = t.iloc[5]
    expected = in_memory(str(demo / "plate.ome.zarr" / one["image"]))
    assert one["f1"] == pytest.approx(expected["f1"]) and one["map"] == pytest.approx(expected["map"])
    s = result.summary.iloc[0]
    assert s["images"] == 12 and s["tp"] == t["tp"].sum() and s["truth_objects"] == t["truth_objects"].sum()
    assert s["recall"] == pytest.approx(t["tp"].sum() / t["truth_objects"].sum())
    assert s["mean_f1"] == pytest.approx(t["f1"].mean())
    assert len(read_table(plate, "eval")) == 12 and len(read_table(plate, "eval-summary")) == 1
    png = result.plot(tmp_path / "plate.png")
    with Image.open(png) as im:
        assert im.size[0] > 150 and len(set(im.getdata())) > 5
    csv = result.to_csv(tmp_path / "plate.csv")
    import pandas as pd

    assert len(pd.read_csv(csv)) == 12


def test_collection_skips_images_without_both_and_stores_per_image(demo):
    from ngffstore.evaluation import evaluate
    from ngffstore.labels import remove_labels
    from ngffstore.metadata import read_table

    remove_labels(str(demo / "plate.ome.zarr" / "B" / "2" / "1"), "pred")
    result = evaluate(str(demo), prediction="labels:pred", truth="labels:nuclei", table="ev")
    assert len(result.table) == 12 and result.skipped == ("plate.ome.zarr/B/2/1",)
    assert "cells.ome.zarr" in set(result.table["image"])
    assert len(result.stored) == 12
    assert len(read_table(str(demo / "plate.ome.zarr" / "A" / "1" / "0"), "ev")) == 1


def test_roi_layers_points_and_terms(demo):
    import shapely

    from ngffstore.evaluation import evaluate
    from ngffstore.labels import open_labels
    from ngffstore.rois import write_rois

    image = str(demo / "cells.ome.zarr")
    # the algorithm layer is the nuclei labels traced as polygons: rasterized back, a perfect match
    r = evaluate(image, prediction="rois:nuclei", truth="labels:nuclei").table.iloc[0]
    assert r["f1"] == 1.0 and r["dice"] == 1.0 and r["map"] == 1.0
    # a layer of points (the label centroids, one moved 20 px away) scored by detection only
    truth = np.asarray(open_labels(image, "nuclei").to_dask(0).compute())
    ov = overlaps(truth, truth)
    pts = [shapely.Point(x, y) for y, x in ov.truth_centroid]
    pts[0] = shapely.Point(pts[0].x + 20 if pts[0].x < 200 else pts[0].x - 20, pts[0].y)
    write_rois(pts, image, layer="centres", kind="algorithm", terms="nucleus")
    r = evaluate(image, prediction="rois:centres", truth="labels:nuclei").table.iloc[0]
    n = ov.n_truth
    assert (r["det_tp"], r["det_fp"], r["det_fn"]) == (n - 1, 1, 1)
    assert np.isnan(r["f1"]) and np.isnan(r["dice"]) and r["count_error"] == 0.0
    # per term: a layer against itself is perfect for every term
    res = evaluate(image, prediction="rois:annotations", truth="rois:annotations", per_term=True)
    assert set(res.table["term"]) == {"", "nucleus", "mitosis", "artifact"}
    assert (res.table["f1"] == 1.0).all() and (res.table["dice"] == 1.0).all()
    assert list(res.summary["term"]) == ["", "artifact", "mitosis", "nucleus"]


def _edit(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("case", ["grid", "float", "missing", "ambiguous", "no-terms", "empty", "no-pair"])
def test_bad_input_one_line_nothing_written(demo, tmp_path, case):
    from ngffstore.errors import InputError, NgffStoreError, StoreNotFoundError
    from ngffstore.evaluation import evaluate
    from ngffstore.rois import write_rois

    image = demo / "cells.ome.zarr"
    url, pred, truth, kw, error, match = str(image), "labels:pred", "labels:nuclei", {}, InputError, ""
    if case == "grid":
        def scale(doc):
            ds = doc["attributes"]["ome"]["multiscales"][0]["datasets"][0]
            ds["coordinateTransformations"][0]["scale"] = [s * 2 for s in ds["coordinateTransformations"][0]["scale"]]
        _edit(image / "labels" / "pred" / "zarr.json", scale)
        match = "different pixel grids"
    elif case == "float":
        _edit(image / "labels" / "pred" / "0" / "zarr.json", lambda d: d.update(data_type="float32", fill_value=0.0))
        match = "float32 values: labels must be integers"
    elif case == "missing":
        pred, error, match = "labels:nope", StoreNotFoundError, "no prediction 'labels:nope'.*it has labels:nuclei"
    elif case == "ambiguous":
        pred, match = "nuclei", "both a label image and a ROI layer"
    elif case == "no-terms":
        write_rois(["POLYGON ((1 1, 9 1, 9 9, 1 9, 1 1))"], str(image), layer="plain")
        pred, truth, kw, match = "rois:plain", "rois:annotations", {"per_term": True}, "layer 'plain' .* has none"
    elif case == "empty":
        (tmp_path / "empty").mkdir()
        url, error, match = str(tmp_path / "empty"), StoreNotFoundError, "nothing to evaluate"
    elif case == "no-pair":
        plate = demo / "plate.ome.zarr"
        url, error, match = str(plate), InputError, "no plate field .* has both"
        pred = "labels:nope"
    before = snapshot(demo)
    with pytest.raises(error, match=match) as info:
        evaluate(url, prediction=pred, truth=truth, table=True, **kw)
    assert isinstance(info.value, NgffStoreError) and "\n" not in str(info.value)
    assert snapshot(demo) == before


def test_different_shapes_refused():
    from ngffstore.errors import InputError
    from ngffstore.evaluation._sources import Source, check_same_grid

    a = Source("labels", "a", "A", (10, 12), "yx", (1.0, 1.0), (0.0, 0.0))
    b = Source("labels", "b", "B", (10, 13), "yx", (1.0, 1.0), (0.0, 0.0))
    with pytest.raises(InputError, match=r"prediction B \(yx 10x13\) and the truth A \(yx 10x12\) have different shapes"):
        check_same_grid(a, b)
    check_same_grid(a, a)


def test_example_evaluate_demo_plate(demo, tmp_path, capsys):
    import importlib
    import sys

    import pandas as pd

    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    example = importlib.import_module("evaluate_demo_plate")
    code = example.main([str(demo / "plate.ome.zarr"), "--scheduler", "threads", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "evaluate_demo_plate.csv")
    assert len(table) == 12 and (table["truth_objects"] > 0).all()
    assert table["f1"].mean() > 0.8 and table["dice"].mean() > 0.8  # the adaptive threshold finds the nuclei
    assert os.path.getsize(tmp_path / "evaluate_demo_plate.png") > 500
    assert example.main([str(demo / "nothere"), "--scheduler", "threads", "--out", str(tmp_path)]) != 0
    assert "error:" in capsys.readouterr().err


def test_slabs_inside_a_block_equal_one_pass(monkeypatch):
    from ngffstore.evaluation import _blocks

    rng = np.random.default_rng(11)
    truth = random_labels(rng, shape=(90, 70), n=30)
    pred = jitter(rng, truth)
    whole = count_block(truth, pred, (100, 200))
    monkeypatch.setattr(_blocks, "SLAB_PIXELS", 7 * 70 + 3)  # slabs of 7 rows, the last one short
    slabs = count_block(truth, pred, (100, 200))
    for a, b in zip(whole, slabs):
        np.testing.assert_allclose(a, b)
    monkeypatch.setattr(_blocks, "DENSE_BINS", 4)  # the sorting path gives the same table
    for a, b in zip(whole, count_block(truth, pred, (100, 200))):
        np.testing.assert_allclose(a, b)


def test_store_path_in_many_blocks_equals_one_block(demo, monkeypatch):
    from ngffstore.evaluation import _sources, evaluate
    from ngffstore.labels import open_labels, write_labels

    image = str(demo / "cells.ome.zarr")
    pred = open_labels(image, "pred").to_dask(0).compute()
    write_labels(pred, image, name="pred64", chunks=64, scheduler="synchronous", progress=False)
    one = evaluate(image, prediction="labels:pred", truth="rois:nuclei").table
    monkeypatch.setattr(_sources, "BLOCK_PIXELS", 64 * 64)
    from ngffstore.image import open_image
    from ngffstore.rois import RoisAttrs

    opened = open_image(image)
    source = _sources.resolve(opened, _sources.SourceSpec.parse("labels:pred64", "p"), "prediction",
                              RoisAttrs.from_attrs(opened.attrs))
    assert source.stored == (64, 64)
    assert _sources.lazy_labels(source, _sources.block_chunks(source)).numblocks == (4, 4)
    many = evaluate(image, prediction="labels:pred64", truth="rois:nuclei").table  # 16 blocks
    cols = [c for c in one.columns if c != "image"]
    assert one[cols].equals(many[cols])
