"""``evaluate``: score a prediction against the truth on an image, a plate or a collection.

Planning reads metadata only (and the ROI layers that are compared); every check runs before
anything is computed or written. Each image becomes a dask graph — one task per pair of blocks
(read, count the (truth, prediction) pairs, drop the block), merges, one scoring task — so that
no label image is held whole and peak memory does not grow with the number of images.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, OutputExistsError, StoreNotFoundError
from ..storage import Location
from ._metrics import SCORE_COLUMNS, count_scores, from_pixels, from_points, score
from ._sources import (
    Source,
    SourceSpec,
    block_chunks,
    check_same_grid,
    lazy_labels,
    missing,
    points_of,
    resolve,
)

OPEN_THREADS = 8
SCORE_PREFIX = "ngffstore-evaluate-score"
#: Columns that are summed over images in the summary (the rest are averaged).
COUNT_COLUMNS = ("truth_objects", "pred_objects", "tp", "fp", "fn", "det_tp", "det_fp", "det_fn")
MEAN_COLUMNS = ("f1", "map", "mean_iou", "pq", "dice", "pixel_iou", "det_f1", "count_error")


@dataclass
class Target:
    """One image (or plate field) to evaluate, and where it sits in the collection (the image is
    not kept open: a plan of thousands of fields stays small)."""

    location: Location
    path: str
    tables: frozenset[str] = frozenset()
    well: str | None = None
    row: str | None = None
    column: str | None = None
    field: str | None = None


@dataclass
class Evaluation:
    """What :func:`evaluate` found: a table per image (and per term), a summary, where it was stored.

    ``table`` has one row per evaluated image (``term`` empty) plus one per image and term when
    evaluated per term; ``summary`` one row per term (``""`` = all objects) with pooled counts,
    pooled precision/recall/F1 (``precision``, ``recall``, ``f1``, same for ``det_``) and the
    mean over images of the per-image scores (``mean_f1``, ``mean_map``, ...).
    """

    url: str
    kind: str  # image, plate, well or collection
    prediction: str
    truth: str
    threshold: float
    distance: float
    table: Any
    summary: Any
    skipped: tuple[str, ...] = ()
    stored: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    table_name: str | None = None
    written: tuple[str, ...] = ()  # the CSV and plot files :func:`evaluate` wrote

    def to_text(self) -> str:
        s = self.summary.iloc[0]
        lines = [
            (f"{self.url}: {self.prediction} (prediction) vs {self.truth} (truth), "
             f"{int(s['images'])} image(s), IoU > {self.threshold:g}, gating {self.distance:g} px"),
            (f"  objects  truth {int(s['truth_objects'])}  predicted {int(s['pred_objects'])}  "
             f"TP {_num(s['tp'])}  FP {_num(s['fp'])}  FN {_num(s['fn'])}"),
            (f"  pooled   precision {_f(s['precision'])}  recall {_f(s['recall'])}  F1 {_f(s['f1'])}  "
             f"detection F1 {_f(s['det_f1'])}  count error {_f(s['count_error'])}"),
            (f"  mean     F1 {_f(s['mean_f1'])}  mAP {_f(s['mean_map'])}  IoU {_f(s['mean_mean_iou'])}  "
             f"PQ {_f(s['mean_pq'])}  Dice {_f(s['mean_dice'])}"),
        ]
        for _, r in self.summary.iloc[1:].iterrows():
            lines.append(f"  term {r['term']!r}: truth {int(r['truth_objects'])} predicted "
                         f"{int(r['pred_objects'])} F1 {_f(r['f1'])} Dice {_f(r['mean_dice'])}")
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} image(s) without both layers")
        if self.stored:
            where = self.stored[0] if len(self.stored) == 1 else f"{len(self.stored)} images"
            lines.append(f"  stored as table {self.table_name!r} on {where}")
        lines.extend(f"wrote {path}" for path in self.written)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-able values (``ngffstore evaluate --json``)."""
        import json

        return {"url": self.url, "prediction": self.prediction, "truth": self.truth,
                "images": len(self.table[self.table["term"] == ""]),
                "skipped": list(self.skipped), "stored": list(self.stored),
                "table": self.table_name if self.stored else None,
                "summary": json.loads(self.summary.to_json(orient="records"))}

    def to_csv(self, path: str | os.PathLike[str]) -> str:
        self.table.to_csv(path, index=False)
        return os.fspath(path)

    def plot(self, path: str | os.PathLike[str]) -> str:
        """Per-image F1 as bars, or a per-well heatmap (mean F1 of the fields) for a plate."""
        from ._plot import draw

        return draw(self, os.fspath(path))


def _num(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else str(int(v))


def _f(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{float(v):.3f}"


# ---------------------------------------------------------------------------------------------
# planning
# ---------------------------------------------------------------------------------------------
Pair = tuple[Target, Source, Source]


def _plan(
    root: Location, pred: SourceSpec, truth: SourceSpec
) -> tuple[str, Any, list[Pair], list[str], int]:
    """``(kind, node attrs, pairs, skipped paths, images looked at)`` for the images under
    ``root`` (a plate's fields by well). Each image is opened, its two sources resolved and
    checked, and only what the tasks need is kept."""
    from ..image import open_image
    from ..metadata import Metadata, node_kind
    from ..nodes import try_read_node
    from ..rois import RoisAttrs, find_images

    node = try_read_node(root)
    kind = node_kind(node.attributes) if node is not None and node.is_group else None
    if kind == "label":
        raise InputError(f"{root.url} is a label image: give the image that holds it (two levels up)")

    def settle(image: Any, path: str, single: bool = False, **where: Any) -> tuple[Target, Source | None, Source | None]:
        rois = RoisAttrs.from_attrs(image.attrs)
        p = resolve(image, pred, "prediction", rois)
        g = resolve(image, truth, "truth", rois)
        if single and (p is None or g is None):
            raise missing(image, pred if p is None else truth, rois, "prediction" if p is None else "truth")
        if p is not None and g is not None:
            check_same_grid(g, p)
        tables = frozenset(Metadata.from_attrs(image.attrs).tables)
        return Target(image.location, path, tables, **where), g, p

    settled: list[tuple[Target, Source | None, Source | None]]
    attrs: Any = None
    if kind == "image":
        image = open_image(root)
        settled = [settle(image, root.url.rstrip("/").rsplit("/", 1)[-1], single=True)]
        attrs = image.attrs
    elif kind == "plate":
        from ..plate import open_plate

        plate = open_plate(root)
        attrs = plate.attrs

        def well_targets(ref: Any) -> list[tuple[Target, Source | None, Source | None]]:
            well = plate.well(ref.row, ref.column)
            return [
                settle(image, f"{ref.path}/{fref.path}", well=ref.name, row=ref.row,
                       column=ref.column, field=fref.path)
                for fref, image in zip(well.images, well.fields)
            ]

        with ThreadPoolExecutor(OPEN_THREADS) as pool:
            settled = [t for ts in pool.map(well_targets, plate.wells) for t in ts]
    else:
        locations = find_images(root)
        if not locations and node is None:
            raise StoreNotFoundError(
                f"nothing to evaluate at {root.url}: no image, plate or collection there; check the URL"
            )
        base = root.url.rstrip("/")

        def one(loc: Location) -> tuple[Target, Source | None, Source | None]:
            return settle(open_image(loc), loc.url[len(base):].strip("/") or ".")

        with ThreadPoolExecutor(OPEN_THREADS) as pool:
            settled = list(pool.map(one, locations))
        if kind == "well" and node is not None:
            attrs = node.attributes
        else:
            kind = "collection"
    pairs = [(t, g, p) for t, g, p in settled if g is not None and p is not None]
    skipped = [t.path for t, g, p in settled if g is None or p is None]
    return kind or "collection", attrs, pairs, skipped, len(settled)


def _terms(pairs: Sequence[Pair]) -> list[str]:
    terms: set[str] = set()
    for t, g, p in pairs:
        for s in (g, p):
            if s.kind != "rois":
                raise InputError(
                    f"per-term evaluation needs two ROI layers with terms, but the "
                    f"{'truth' if s is g else 'prediction'} {s.label} of {t.location.url} is a label image"
                )
            if not s.terms:
                raise InputError(
                    f"per-term evaluation needs ROI layers with terms, but the layer {s.name!r} of "
                    f"{t.location.url} has none; evaluate without per-term or add terms to its ROIs"
                )
            terms.update(s.terms)
    return sorted(terms)


def default_table_name(prediction: SourceSpec, truth: SourceSpec) -> str:
    def clean(s: SourceSpec) -> str:
        return "".join(c if c.isalnum() or c in "_.-" else "-" for c in str(s))

    return f"evaluation_{clean(prediction)}_vs_{clean(truth)}"[:120]


# ---------------------------------------------------------------------------------------------
# tasks
# ---------------------------------------------------------------------------------------------
def _score_counts(counts: Any, threshold: float, distance: float) -> dict[str, Any]:
    return score(from_pixels(*counts), threshold=threshold, distance=distance)


def _score_points(truth: Any, pred: Any, threshold: float, distance: float) -> dict[str, Any]:
    def pts(v: Any) -> np.ndarray:
        return v if isinstance(v, np.ndarray) else from_pixels(*v).truth_centroid

    return score(from_points(pts(truth), pts(pred)), threshold=threshold, distance=distance)


def _image_task(
    key: str, truth: Source, pred: Source, term: str | None, threshold: float, distance: float,
    plan: str = "",
) -> Any:
    import dask
    import dask.array as da

    from ._blocks import gather

    chunks = block_chunks(truth if truth.kind == "labels" else pred)
    if truth.points or pred.points:
        sides = []
        for s in (truth, pred):
            if s.points:
                sides.append(points_of(s, term))
            else:
                arr = lazy_labels(s, chunks, term, plan)
                sides.append(gather(arr, da.zeros_like(arr)))
        return dask.delayed(_score_points, pure=True)(*sides, threshold, distance, dask_key_name=key)
    counts = gather(lazy_labels(truth, chunks, term, plan), lazy_labels(pred, chunks, term, plan))
    return dask.delayed(_score_counts, pure=True)(counts, threshold, distance, dask_key_name=key)


# ---------------------------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------------------------
def summarize(table: Any) -> Any:
    """One row per term (``""`` first): pooled counts and scores, and means of per-image scores."""
    import pandas as pd

    rows = []
    for term, sub in table.groupby("term", sort=True):
        r: dict[str, Any] = {"term": term, "images": len(sub)}
        for c in COUNT_COLUMNS:
            r[c] = float(sub[c].sum(min_count=1)) if sub[c].notna().any() else np.nan
        empty = r["truth_objects"] == 0 and r["pred_objects"] == 0
        if np.isnan(r["tp"]):
            r.update({"precision": np.nan, "recall": np.nan, "f1": np.nan})
        else:
            r.update(count_scores(r["tp"], r["fp"], r["fn"], empty))
        r.update({f"det_{k}": v for k, v in count_scores(r["det_tp"], r["det_fp"], r["det_fn"], empty).items()})
        t, p = r["truth_objects"], r["pred_objects"]
        r["count_error"] = abs(p - t) / t if t else (0.0 if p == 0 else float("inf"))
        for c in MEAN_COLUMNS:
            r[f"mean_{c}"] = float(sub[c].mean()) if sub[c].notna().any() else np.nan
        rows.append(r)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# the entry point
# ---------------------------------------------------------------------------------------------
def evaluate(
    url: str | os.PathLike[str] | Location,
    *,
    prediction: str,
    truth: str,
    threshold: float = 0.5,
    distance: float = 5.0,
    per_term: bool = False,
    table: str | bool | None = None,
    overwrite: bool = False,
    scheduler: Any = None,
    progress: bool | None = None,
    storage_options: Mapping[str, Any] | None = None,
    csv: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    local_cluster: int | None = None,
) -> Evaluation:
    """Score ``prediction`` against ``truth`` on an image, or on every image / plate field under
    ``url`` that has both (see ``specs/evaluation.md`` for the metrics).

    Parameters
    ----------
    url
        An image, a plate, a well, or a folder (collection) holding images and plates.
    prediction, truth
        ``labels:NAME`` (a label image), ``rois:LAYER`` (a ROI layer, rasterized block by block;
        a layer of points is compared by detection and counting only) or a bare name.
    threshold
        IoU above which a truth and a predicted object match (default 0.5).
    distance
        Gating distance (level-0 pixels) of centroid / point detection (default 5).
    per_term
        Also score each ontology term (both must be ROI layers with terms; a term includes
        the terms below it in the ontology).
    table
        Store the per-image table (and for a plate or well its summary, as ``NAME-summary``)
        with ``write_table`` on the plate or well, on the image, or — for a folder, which holds
        no attributes — on every evaluated image (its own rows); ``True`` picks the name
        ``evaluation_<prediction>_vs_<truth>``. A provenance record naming both inputs is
        appended there. None (default) stores nothing.
    overwrite
        Replace a stored table of the same name.
    scheduler
        ``threads`` (default), ``processes``, ``synchronous``, a dask.distributed address or Client.
    csv
        Also write the per-image table to this ``.csv`` file (:meth:`Evaluation.to_csv`).
    plot
        Also draw per-image F1 to this ``.png`` file (:meth:`Evaluation.plot`). Both paths are
        checked (suffix, existing folder) before anything is evaluated; the written ones are in
        :attr:`Evaluation.written`.
    local_cluster
        Run on a dask.distributed LocalCluster of this many worker processes (closed afterwards).

    Raises
    ------
    InputError
        Different shapes or pixel grids, float labels, an ambiguous name, per-term evaluation of
        a layer without terms, no image with both inputs. Nothing is written then.
    StoreNotFoundError
        Nothing at ``url``, or (for one image) a missing label image or layer.
    """
    import dask

    from .. import parallel, provenance

    _check_output(csv, "--output", ".csv")
    _check_output(plot, "--plot", ".png")
    if local_cluster is not None:
        with parallel.local_cluster(local_cluster, scheduler) as client:
            return evaluate(
                url, prediction=prediction, truth=truth, threshold=threshold, distance=distance,
                per_term=per_term, table=table, overwrite=overwrite, scheduler=client,
                progress=progress, storage_options=storage_options, csv=csv, plot=plot,
            )
    pred_spec = SourceSpec.parse(prediction, "prediction")
    truth_spec = SourceSpec.parse(truth, "truth")
    threshold, distance = float(threshold), float(distance)
    if not 0.0 <= threshold < 1.0:
        raise InputError(f"the IoU threshold must be in [0, 1), not {threshold}")
    if not distance > 0 or not np.isfinite(distance):
        raise InputError(f"the gating distance must be a positive number of pixels, not {distance}")
    name = default_table_name(pred_spec, truth_spec) if table is True else (table or None)
    if name is not None:
        from ..metadata import check_table_name

        check_table_name(name)
        check_table_name(f"{name}-summary")  # a plate's summary table: refused now, not half-way
    started = provenance.now()
    root = Location.parse(url, storage_options)
    if name is not None and root.protocol in ("http", "https"):
        raise InputError(
            f"{root.url} is read-only (http): the results cannot be stored there; evaluate "
            "without a table (--no-table) and write them with -o"
        )
    kind, node_attrs, pairs, skipped, looked = _plan(root, pred_spec, truth_spec)
    where = "image" if kind == "image" else "plate field" if kind == "plate" else "image"
    if not pairs:
        raise InputError(
            f"no {where} under {root.url} has both the prediction {str(pred_spec)!r} and the truth "
            f"{str(truth_spec)!r} ({looked} looked at): nothing to evaluate"
        )
    terms = _terms(pairs) if per_term else []
    if name is not None and not overwrite:
        _check_free(kind, name, node_attrs, root, pairs)

    tasks, keys = [], []
    token = dask.base.tokenize(root.url, str(pred_spec), str(truth_spec), threshold, distance, terms)
    for i, (target, g, p) in enumerate(pairs):
        for term in [None, *terms]:
            key = f"{SCORE_PREFIX}-{token}-{i}-{term or ''}"
            tasks.append(_image_task(key, g, p, term, threshold, distance, plan=f"{token}-{started}"))
            keys.append((target, term))
    results = parallel.run(tasks, scheduler=scheduler, progress=progress, desc="evaluate", prefix=SCORE_PREFIX)

    import pandas as pd

    records = []
    for (target, term), res in zip(keys, results):
        rec: dict[str, Any] = {"image": target.path}
        if kind == "plate":
            rec.update(well=target.well, row=target.row, column=target.column, field=target.field)
        rec["term"] = term or ""
        rec.update(res)
        records.append(rec)
    frame = pd.DataFrame.from_records(records)
    for c in SCORE_COLUMNS:
        if c in ("truth_objects", "pred_objects"):
            frame[c] = frame[c].astype(np.int64)
    summary = summarize(frame)
    rows: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    if kind == "plate":
        from ..plate import open_plate

        plate = open_plate(root)
        rows, columns = plate.rows, plate.columns
    result = Evaluation(
        url=root.url, kind=kind, prediction=str(pred_spec), truth=str(truth_spec),
        threshold=threshold, distance=distance, table=frame, summary=summary,
        skipped=tuple(skipped), rows=rows, columns=columns, table_name=name,
    )
    if name is not None:
        parameters = {
            "prediction": str(pred_spec), "truth": str(truth_spec), "threshold": threshold,
            "distance": distance, "per_term": bool(per_term), "table": name,
            "images": len(pairs), "skipped": len(skipped),
        }
        result.stored = _store(kind, root, name, frame, summary, pairs, parameters, started, overwrite)
    written = []
    if csv is not None:
        written.append(result.to_csv(csv))
    if plot is not None:
        written.append(result.plot(plot))
    result.written = tuple(written)
    return result


def _check_output(path: str | os.PathLike[str] | None, what: str, suffix: str) -> None:
    """Refuse an output file with another suffix or in a missing folder (before any work)."""
    if path is None:
        return
    path = os.fspath(path)
    if not path.lower().endswith(suffix):
        raise InputError(f"{what} {path!r} must end with {suffix}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"{what} {path!r}: the folder {folder} does not exist; create it first")


def _check_free(kind: str, name: str, attrs: Any, root: Location, pairs: Sequence[Pair]) -> None:
    from ..metadata import Metadata

    nodes = (
        [(root.url, frozenset(Metadata.from_attrs(attrs or {}).tables))]
        if kind in ("image", "plate", "well")
        else [(t.location.url, t.tables) for t, _, _ in pairs]
    )
    names = [name, f"{name}-summary"] if kind in ("plate", "well") else [name]
    for url, have in nodes:
        for n in names:
            if n in have:
                raise OutputExistsError(
                    f"{url} already has a table {n!r}; pass overwrite=True (--overwrite) to replace it "
                    "or choose another name (--table)"
                )


def _inputs(pairs: Sequence[Pair], root: Location) -> list[dict[str, Any]]:
    out = []
    for role in ("prediction", "truth"):
        sources = [pair[2] if role == "prediction" else pair[1] for pair in pairs]
        entry: dict[str, Any] = {
            "path": sources[0].url if len(sources) == 1 else root.url,
            "role": role,
            "source": sources[0].label,
            "images": len(sources),
        }
        if len(sources) > 1:
            entry["images_evaluated"] = [pair[0].path for pair in pairs][:1000]
        out.append(entry)
    return out


def _store(
    kind: str,
    root: Location,
    name: str,
    frame: Any,
    summary: Any,
    pairs: Sequence[Pair],
    parameters: dict[str, Any],
    started: str,
    overwrite: bool,
) -> tuple[str, ...]:
    from .. import provenance
    from ..metadata import write_table
    from ..nodes import update_attributes

    def write(url_loc: Location, rows: Any, with_summary: bool, inputs: list[dict[str, Any]]) -> str:
        write_table(rows, url_loc, name=name, overwrite=overwrite)
        if with_summary:
            write_table(summary, url_loc, name=f"{name}-summary", overwrite=overwrite)
        rec = provenance.record("evaluate", parameters, inputs=inputs, started=started, target=url_loc.url)
        update_attributes(url_loc, lambda attrs: provenance.append(attrs, rec), what="record the evaluation on")
        return url_loc.url

    if kind in ("image", "plate", "well"):
        return (write(root, frame, kind != "image", _inputs(pairs, root)),)
    stored = []
    for target, g, p in pairs:
        loc = target.location
        rows = frame[frame["image"] == target.path]
        stored.append(write(loc, rows, False, _inputs([(target, g, p)], loc)))
    return tuple(stored)


__all__ = ["Evaluation", "evaluate", "summarize"]
