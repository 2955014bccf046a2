"""Scores of a prediction against the truth, from overlap counts only (see ``specs/evaluation.md``).

Everything here works on :class:`Overlaps` — the contingency table of (truth id, prediction id)
pixel counts plus per-object areas and centroids — never on the label images themselves, so the
same functions score a 100-pixel test image and a 20,000 x 20,000 image gathered block by block.

Definitions (BIAFLOWS / 2018 Data Science Bowl):

* a truth object and a predicted object *match* at threshold ``t`` when their IoU is above ``t``
  (strictly); matching is one-to-one and optimal (the most matches, then the largest IoU sum);
* precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN);
* "mAP" (DSB 2018) = mean over t in 0.50, 0.55, ..., 0.95 of TP / (TP + FP + FN);
* mean matched IoU = mean IoU of the matches at the threshold; panoptic quality (Kirillov et
  al. 2019) = sum of matched IoU / (TP + FP / 2 + FN / 2);
* pixel Dice = 2 |T n P| / (|T| + |P|), pixel IoU = |T n P| / |T u P| (foreground = label > 0);
* detection: centroids matched one-to-one within a gating distance (the most matches, then the
  smallest distances); counting: |#P - #T| / #T.

A ratio whose denominator is 0 is 1.0 when the truth and the prediction are both empty (nothing to
find, nothing found) and 0.0 otherwise; the relative count error with no truth object is 0 when
nothing was predicted, else infinity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: The IoU thresholds of the DSB 2018 "mAP": 0.50, 0.55, ..., 0.95.
MAP_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


@dataclass(frozen=True, kw_only=True)
class Overlaps:
    """The contingency between truth and prediction objects, and their areas and centroids.

    ``truth_ids``/``pred_ids`` are the object ids (label values, never 0), ``truth_area``/
    ``pred_area`` their pixel counts and ``truth_centroid``/``pred_centroid`` their centroids
    (``(n, ndim)``, level-0 coordinates, pixel centres at index + 0.5, axis order of the image:
    ``(y, x)`` in 2-D). ``pair_truth``/``pair_pred`` index into the id arrays and ``pair_count``
    counts the pixels the two objects share (only pairs that share at least one pixel).
    ``points`` is True when the objects are points (no areas: detection and counting only).
    """

    truth_ids: np.ndarray
    truth_area: np.ndarray
    truth_centroid: np.ndarray
    pred_ids: np.ndarray
    pred_area: np.ndarray
    pred_centroid: np.ndarray
    pair_truth: np.ndarray
    pair_pred: np.ndarray
    pair_count: np.ndarray
    points: bool = False

    @property
    def n_truth(self) -> int:
        return len(self.truth_ids)

    @property
    def n_pred(self) -> int:
        return len(self.pred_ids)

    def swapped(self) -> Overlaps:
        """The same overlaps with truth and prediction exchanged."""
        return Overlaps(
            truth_ids=self.pred_ids, truth_area=self.pred_area, truth_centroid=self.pred_centroid,
            pred_ids=self.truth_ids, pred_area=self.truth_area, pred_centroid=self.truth_centroid,
            pair_truth=self.pair_pred, pair_pred=self.pair_truth, pair_count=self.pair_count,
            points=self.points,
        )

    def iou(self) -> np.ndarray:
        """The IoU of every overlapping pair."""
        n = self.pair_count.astype(np.float64)
        union = self.truth_area[self.pair_truth] + self.pred_area[self.pair_pred] - n
        return n / np.maximum(union, 1.0)


def from_pixels(
    ids: np.ndarray, pred: np.ndarray, count: np.ndarray, sums: np.ndarray
) -> Overlaps:
    """:class:`Overlaps` from the merged block counts: one row per (truth id, prediction id) pair
    that occurs on a pixel where either is non-zero, with its pixel count and coordinate sums."""
    ids = np.asarray(ids, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    count = np.asarray(count, dtype=np.int64)
    sums = np.asarray(sums, dtype=np.float64)
    if sums.ndim != 2:
        sums = sums.reshape(len(count), -1)

    def objects(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        keep = values != 0
        uniq, inv = np.unique(values[keep], return_inverse=True)
        area = np.bincount(inv, weights=count[keep], minlength=len(uniq)).astype(np.int64)
        centre = np.stack(
            [np.bincount(inv, weights=sums[keep, d], minlength=len(uniq)) for d in range(sums.shape[1])],
            axis=1,
        ) if len(uniq) else np.zeros((0, sums.shape[1]))
        centre = centre / np.maximum(area, 1)[:, None] + 0.5
        return uniq, area, centre, inv

    t_ids, t_area, t_centre, _ = objects(ids)
    p_ids, p_area, p_centre, _ = objects(pred)
    both = (ids != 0) & (pred != 0)
    return Overlaps(
        truth_ids=t_ids, truth_area=t_area, truth_centroid=t_centre,
        pred_ids=p_ids, pred_area=p_area, pred_centroid=p_centre,
        pair_truth=np.searchsorted(t_ids, ids[both]),
        pair_pred=np.searchsorted(p_ids, pred[both]),
        pair_count=count[both],
    )


def from_points(truth: np.ndarray, pred: np.ndarray) -> Overlaps:
    """:class:`Overlaps` of two point sets (``(n, ndim)`` coordinates): detection and counting only."""
    truth = np.asarray(truth, dtype=np.float64).reshape(-1, 2) if np.size(truth) else np.zeros((0, 2))
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 2) if np.size(pred) else np.zeros((0, 2))
    empty = np.zeros(0, dtype=np.int64)
    return Overlaps(
        truth_ids=np.arange(1, len(truth) + 1), truth_area=np.zeros(len(truth), np.int64), truth_centroid=truth,
        pred_ids=np.arange(1, len(pred) + 1), pred_area=np.zeros(len(pred), np.int64), pred_centroid=pred,
        pair_truth=empty, pair_pred=empty, pair_count=empty, points=True,
    )


# ---------------------------------------------------------------------------------------------
# one-to-one matching
# ---------------------------------------------------------------------------------------------
def match(
    pair_truth: np.ndarray, pair_pred: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An optimal one-to-one matching among candidate pairs: the most pairs, then the largest
    total ``score`` (each in [0, 1]). Returns the matched ``(truth index, pred index, score)``.

    The candidate graph is cut into connected components; a component of one pair is matched
    as it is, a larger one by ``scipy.optimize.linear_sum_assignment`` on its dense (small)
    weight matrix ``BIG + score`` (``BIG`` > the component's size, so a matching with one more
    pair always weighs more).
    """
    pair_truth = np.asarray(pair_truth, dtype=np.int64)
    pair_pred = np.asarray(pair_pred, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    if len(score) == 0 or (_distinct(pair_truth) and _distinct(pair_pred)):
        return pair_truth, pair_pred, score  # no object in two candidate pairs: all match
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ut, ti = np.unique(pair_truth, return_inverse=True)
    up, pi = np.unique(pair_pred, return_inverse=True)
    nt, npred = len(ut), len(up)
    graph = coo_matrix((np.ones(len(score)), (ti, nt + pi)), shape=(nt + npred, nt + npred))
    _, comp = connected_components(graph, directed=False)
    pair_comp = comp[ti]
    order = np.argsort(pair_comp, kind="stable")
    sizes = np.bincount(pair_comp, minlength=comp.max() + 1)
    single = sizes[pair_comp] == 1
    keep = [np.flatnonzero(single)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    from scipy.optimize import linear_sum_assignment

    for c in np.flatnonzero(sizes > 1):
        idx = order[starts[c] : starts[c + 1]]
        rows, r_inv = np.unique(ti[idx], return_inverse=True)
        cols, c_inv = np.unique(pi[idx], return_inverse=True)
        big = min(len(rows), len(cols)) + 1.0
        weight = np.zeros((len(rows), len(cols)))
        weight[r_inv, c_inv] = big + score[idx]
        lookup = -np.ones((len(rows), len(cols)), dtype=np.int64)
        lookup[r_inv, c_inv] = idx
        r, k = linear_sum_assignment(weight, maximize=True)
        chosen = lookup[r, k]
        keep.append(chosen[chosen >= 0])
    sel = np.sort(np.concatenate(keep))
    return pair_truth[sel], pair_pred[sel], score[sel]


def _distinct(values: np.ndarray) -> bool:
    return len(values) < 2 or bool((np.diff(np.sort(values)) != 0).all())


def _ratio(num: float, den: float, both_empty: bool) -> float:
    if den == 0:
        return 1.0 if both_empty else 0.0
    return float(num) / float(den)


def count_scores(tp: int, fp: int, fn: int, both_empty: bool) -> dict[str, float]:
    """Precision, recall and F1 from TP/FP/FN."""
    return {
        "precision": _ratio(tp, tp + fp, both_empty),
        "recall": _ratio(tp, tp + fn, both_empty),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, both_empty),
    }


def object_scores(ov: Overlaps, threshold: float = 0.5) -> dict[str, Any]:
    """Object segmentation scores: TP/FP/FN, precision, recall, F1 at ``threshold``, the DSB
    "mAP", the mean matched IoU and the panoptic quality."""
    both_empty = ov.n_truth == 0 and ov.n_pred == 0
    iou = ov.iou()

    def at(t: float) -> tuple[int, np.ndarray]:
        cand = iou > t
        _, _, s = match(ov.pair_truth[cand], ov.pair_pred[cand], iou[cand])
        return len(s), s

    tp, matched = at(threshold)
    fp, fn = ov.n_pred - tp, ov.n_truth - tp
    out: dict[str, Any] = {"tp": tp, "fp": fp, "fn": fn, **count_scores(tp, fp, fn, both_empty)}
    aps = []
    for t in MAP_THRESHOLDS:
        k = tp if t == threshold else at(t)[0]
        aps.append(_ratio(k, ov.n_truth + ov.n_pred - k, both_empty))
    out["map"] = float(np.mean(aps))
    out["mean_iou"] = float(matched.mean()) if tp else (1.0 if both_empty else 0.0)
    out["pq"] = _ratio(float(matched.sum()), tp + 0.5 * fp + 0.5 * fn, both_empty)
    return out


def pixel_scores(ov: Overlaps) -> dict[str, float]:
    """Foreground Dice and IoU (Jaccard) from the overlaps."""
    inter = int(ov.pair_count.sum())
    t, p = int(ov.truth_area.sum()), int(ov.pred_area.sum())
    empty = t == 0 and p == 0
    return {"dice": _ratio(2 * inter, t + p, empty), "pixel_iou": _ratio(inter, t + p - inter, empty)}


def detection_scores(ov: Overlaps, distance: float = 5.0) -> dict[str, Any]:
    """Centroids (or points) matched one-to-one within ``distance`` pixels: TP/FP/FN, precision,
    recall, F1 (prefixed ``det_``)."""
    both_empty = ov.n_truth == 0 and ov.n_pred == 0
    tp = 0
    if ov.n_truth and ov.n_pred:
        from scipy.spatial import cKDTree

        a, b = ov.truth_centroid, ov.pred_centroid
        near = cKDTree(a).query_ball_tree(cKDTree(b), r=float(distance))
        ti = np.repeat(np.arange(len(near)), [len(n) for n in near])
        pi = np.fromiter((j for n in near for j in n), dtype=np.int64, count=len(ti))
        if len(ti):
            d = np.sqrt(((a[ti] - b[pi]) ** 2).sum(axis=1))
            tp = len(match(ti, pi, 1.0 - d / (float(distance) + 1.0))[2])
    fp, fn = ov.n_pred - tp, ov.n_truth - tp
    s = count_scores(tp, fp, fn, both_empty)
    return {"det_tp": tp, "det_fp": fp, "det_fn": fn, **{f"det_{k}": v for k, v in s.items()}}


def count_error(n_truth: int, n_pred: int) -> float:
    """Relative count error |#P - #T| / #T (0 when both are 0, infinity when only #T is)."""
    if n_truth == 0:
        return 0.0 if n_pred == 0 else float("inf")
    return abs(n_pred - n_truth) / n_truth


#: The columns of one score row, in order (``term`` and the image columns come first in tables).
SCORE_COLUMNS: tuple[str, ...] = (
    "truth_objects", "pred_objects", "tp", "fp", "fn", "precision", "recall", "f1", "map",
    "mean_iou", "pq", "dice", "pixel_iou", "det_tp", "det_fp", "det_fn", "det_precision",
    "det_recall", "det_f1", "count_error",
)  # fmt: skip


def score(ov: Overlaps, *, threshold: float = 0.5, distance: float = 5.0) -> dict[str, Any]:
    """Every score of one image (or one term of one image) as a flat dict (:data:`SCORE_COLUMNS`).

    Point objects have no object segmentation or pixel scores (NaN).
    """
    out: dict[str, Any] = {"truth_objects": ov.n_truth, "pred_objects": ov.n_pred}
    if ov.points:
        out.update({k: np.nan for k in ("tp", "fp", "fn", "precision", "recall", "f1", "map",
                                        "mean_iou", "pq", "dice", "pixel_iou")})
    else:
        out.update(object_scores(ov, threshold))
        out.update(pixel_scores(ov))
    out.update(detection_scores(ov, distance))
    out["count_error"] = count_error(ov.n_truth, ov.n_pred)
    return {k: out[k] for k in SCORE_COLUMNS}
