"""Evaluating segmentations against ground truth (see ``specs/evaluation.md``).

:func:`evaluate` scores a prediction (a label image or a ROI layer) against the truth on an
image, or on every image or plate field of a collection that has both, block by block with dask.
The metrics (BIAFLOWS / 2018 Data Science Bowl definitions) work on :class:`Overlaps` — the
contingency of object ids plus areas and centroids — which :func:`overlaps` computes for
in-memory arrays and :func:`gather` for dask arrays, chunk by chunk.
"""

from ._blocks import count_block, gather, merge, overlaps
from ._metrics import (
    MAP_THRESHOLDS,
    SCORE_COLUMNS,
    Overlaps,
    count_error,
    detection_scores,
    from_points,
    match,
    object_scores,
    pixel_scores,
    score,
)
from ._run import Evaluation, evaluate, summarize

__all__ = [
    "MAP_THRESHOLDS",
    "SCORE_COLUMNS",
    "Evaluation",
    "Overlaps",
    "count_block",
    "count_error",
    "detection_scores",
    "evaluate",
    "from_points",
    "gather",
    "match",
    "merge",
    "object_scores",
    "overlaps",
    "pixel_scores",
    "score",
    "summarize",
]
