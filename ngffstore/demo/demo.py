"""A complete demo collection: an image with labels and ROIs, a plate with labels, metadata, index.

:func:`build_demo` writes, under ``dest`` (a folder or ``s3://`` URL)::

    cells.ome.zarr/            3-channel image (DAPI, Membrane, Spots), converted from an OME-TIFF
      labels/nuclei/           nuclei: threshold of DAPI + chunk-wise connected components
      rois/annotations/        user layer: hand-placed polygons, terms nucleus / mitosis / artifact
      rois/nuclei/             algorithm layer: the nuclei labels as polygons (``from_labels``)
    plate.ome.zarr/            2 x 3 wells x 2 fields, 2 channels (DAPI, GFP), 256 x 256
      A/1/0/labels/nuclei/ ... a label image per field
    index.parquet (+ journal)  the collection index (``build_index``)

with key-values and tags on the image, the plate and its wells, and provenance written by every
writer. Everything is synthetic (:mod:`ngffstore.demo.samples`) and made in seconds.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..storage import Location, storage_errors

IMAGE_NAME = "cells.ome.zarr"
PLATE_NAME = "plate.ome.zarr"
LABEL_NAME = "nuclei"
USER_LAYER = "annotations"
ALGORITHM_LAYER = "nuclei"
PLATE_ROWS = ("A", "B")
PLATE_COLUMNS = ("1", "2", "3")
PLATE_FIELDS = 2
PLATE_FIELD_SIZE = 256
PIXEL_SIZE = 0.325
DEFAULT_SIZE = 1024
ONTOLOGY = {
    "nucleus": {"color": "3B82F6"},
    "mitosis": {"color": "EF4444", "parent": "nucleus"},
    "artifact": {"color": "A3A3A3"},
}
#: Dose per plate column (µM): the GFP signal grows with it, which the plate heatmap shows.
DOSES = {"1": 0.0, "2": 1.0, "3": 10.0}


@dataclass
class DemoReport:
    """What :func:`build_demo` wrote."""

    root: str
    image: str
    plate: str
    image_shape: tuple[int, ...] = ()
    nuclei: int = 0
    rois: dict[str, dict[str, int]] = field(default_factory=dict)
    wells: int = 0
    fields: int = 0
    field_nuclei: dict[str, int] = field(default_factory=dict)
    index_rows: int = 0
    seconds: float = 0.0

    def to_text(self) -> str:
        shape = " x ".join(str(s) for s in self.image_shape)
        rows = [
            (f"{IMAGE_NAME}/", f"image c,y,x {shape} uint16 (DAPI, Membrane, Spots), multiscale"),
            (f"  labels/{LABEL_NAME}/", f"{self.nuclei} nuclei (threshold + connected components)"),
        ]
        for layer, terms in self.rois.items():
            text = ", ".join(f"{t} {n}" for t, n in terms.items()) or "no terms"
            rows.append((f"  rois/{layer}/", text))
        plate = f"{len(PLATE_ROWS)} x {len(PLATE_COLUMNS)} wells, {self.fields} fields (DAPI, GFP)"
        rows += [
            (f"{PLATE_NAME}/", f"plate {plate}"),
            (f"  A/1/0/labels/{LABEL_NAME}/ ...", "nuclei labels in every field"),
            ("index", f"{self.index_rows} rows (the image and every plate field)"),
        ]
        width = max(len(a) for a, _ in rows) + 2
        lines = [f"demo collection at {self.root} ({self.seconds:.1f} s)"]
        lines += [f"  {a:<{width}}{b}" for a, b in rows]
        lines.append("  key-values and tags on the image, plate, wells and fields; provenance on every node")
        return "\n".join(lines)

    def commands(self, options: str = "") -> list[str]:
        opt = f" {options}" if options else ""
        root, image, plate = self.root, self.image, self.plate
        return [
            f"ngffstore info {image}{opt}",
            f"ngffstore validate {image}{opt}",
            f"ngffstore validate {plate}{opt}",
            f"ngffstore thumbnail {image} -o cells.png{opt}",
            f"ngffstore search {root} 'experiment == \"demo\"'{opt}",
            f"ngffstore search {root} 'dose_uM >= 1'{opt}",
            f"ngffstore rois stats {image}{opt}",
            f"python examples/plate_heatmap.py {plate}{opt}",
            f"python examples/tiled_segmentation.py {image}{opt}",
            f"python examples/term_statistics.py {root}{opt}",
            f"python examples/region_measurements.py {image}{opt}",
        ]


def write_sample_tiff(path: str, size: int, seed: int) -> None:
    """The demo's input: an OME-TIFF (c, y, x) uint16, tiled, 0.325 µm pixels."""
    import tifffile

    from .samples import CHANNELS, synthetic_cells

    data = synthetic_cells((3, size, size), seed=seed).compute()
    tifffile.imwrite(
        path,
        data,
        ome=True,
        tile=(256, 256),
        compression="zlib",
        photometric="minisblack",
        metadata={
            "axes": "CYX",
            "Name": "demo cells",
            "PhysicalSizeX": PIXEL_SIZE,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": PIXEL_SIZE,
            "PhysicalSizeYUnit": "µm",
            "Channel": {"Name": [c[0] for c in CHANNELS]},
        },
    )


def nuclei_threshold(image: Any) -> float:
    """A global DAPI threshold from the smallest pyramid level (never level 0 of a pyramid)."""
    low = np.asarray(image.to_dask(len(image.levels) - 1)[image_channel_index(image, 0)], dtype=np.float64)
    background, bright = np.percentile(low, [50, 99.5])
    return float(background + 0.15 * max(bright - background, 1.0))


def image_channel_index(image: Any, c: int) -> tuple[Any, ...]:
    """An index selecting channel ``c`` (and the first t/z plane) of an image's array, keeping y, x."""
    return tuple(c if a == "c" else (0 if a in "tz" else slice(None)) for a in image.axes)


def segment_nuclei(image: Any, *, level: int = 0, min_size: int = 20, scheduler: Any = None) -> tuple[Any, int]:
    """Nuclei of ``image`` (channel 0 = DAPI): global threshold + chunk-wise connected components.

    Returns a lazy uint32 (y, x) label array and the number of nuclei.
    """
    from .segmentation import label_blocks

    dapi = image.to_dask(level)[image_channel_index(image, 0)]
    mask = dapi > nuclei_threshold(image)
    return label_blocks(mask, min_size=min_size, scheduler=scheduler)


def nucleus_properties(n: int) -> dict[int, dict[str, Any]] | None:
    """Label properties giving every nucleus the term "nucleus" (picked up by ``from_labels``).

    Listed for 0 too, so the values match the generated ``colors`` (as NGFF validators require).
    """
    from ..labels.write import MAX_GENERATED_COLORS

    if n + 1 > MAX_GENERATED_COLORS:
        return None
    return {0: {"class": "background"}, **{v: {"term": "nucleus", "class": "nucleus"} for v in range(1, n + 1)}}


def _annotations(size: int, seed: int) -> list[dict[str, Any]]:
    """A few hand-placed polygons: outlines of real nuclei, a dividing pair, an artifact."""
    import shapely

    from .samples import Cells

    cells = Cells.random(size, size, seed=seed)
    margin = 30
    inside = np.nonzero(
        (cells.cy > margin) & (cells.cy < size - margin) & (cells.cx > margin) & (cells.cx < size - margin)
    )[0]
    rois: list[dict[str, Any]] = []
    for k, i in enumerate(inside[:4]):
        circle = shapely.Point(float(cells.cx[i]), float(cells.cy[i])).buffer(float(cells.r[i]) * 1.1, quad_segs=6)
        terms = ["nucleus", "mitosis"] if k == 0 else ["nucleus"]
        rois.append({"geometry": circle, "terms": terms, "properties": {"note": "hand-placed"}})
    s = max(8, size // 40)
    x0, y0 = size - 3 * s, 2 * s
    rois.append({
        "geometry": shapely.Polygon([(x0, y0), (x0 + s, y0 + s // 3), (x0 + s // 2, y0 + s), (x0 - s // 3, y0 + s // 2)]),
        "terms": ["artifact"],
        "properties": {"note": "dust"},
    })
    return rois


def _plate_fields(seed: int, per_well: int) -> list[tuple[str, str, int, np.ndarray]]:
    from .samples import synthetic_cells

    fields = []
    n = PLATE_FIELD_SIZE
    for r, row in enumerate(PLATE_ROWS):
        for c, col in enumerate(PLATE_COLUMNS):
            gain = 1.0 + 0.4 * np.log1p(DOSES[col]) + 0.15 * r
            for f in range(per_well):
                data = synthetic_cells((3, n, n), chunks=n, seed=seed + 100 + 10 * (r * 3 + c) + f).compute()
                gfp = np.clip(300 + (data[1].astype(np.float32) - 300) * gain, 0, 65535).astype(np.uint16)
                fields.append((row, col, f, np.stack([data[0], gfp])))
    return fields


def build_demo(
    dest: Any,
    *,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    storage_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    scheduler: Any = "threads",
    chunks: int | None = None,
    fields_per_well: int = PLATE_FIELDS,
) -> DemoReport:
    """Write the demo collection under ``dest`` (see the module docstring) and describe it.

    ``size`` is the edge of the multi-channel image (the plate's fields are 256 x 256);
    ``fields_per_well`` the number of fields in each of the plate's 6 wells.
    ``overwrite`` replaces an earlier demo; without it an existing image or plate is refused
    (:class:`~ngffstore.errors.OutputExistsError`).
    """
    from .. import plugins
    from ..errors import InputError, OutputExistsError
    from ..image import open_image, write_image
    from ..index import build_index
    from ..labels import write_labels
    from ..metadata import write_metadata
    from ..parallel import parse_scheduler
    from ..plate import open_plate, write_plate
    from ..rois import from_labels, write_rois

    t0 = time.perf_counter()
    if size < 64:
        raise InputError(f"size {size} is too small for a demo; use at least 64")
    if not 1 <= fields_per_well <= 16:
        raise InputError(f"{fields_per_well} fields per well: use 1 to 16")
    parse_scheduler(scheduler)  # an unknown scheduler name fails before anything is written
    root = Location.parse(dest, storage_options)
    if root.is_local and os.path.exists(root.url) and not os.path.isdir(root.url):
        raise OutputExistsError(f"{root.url} is a file, not a folder: choose a folder for the demo collection")
    so = root.storage_options if not root.is_local else None
    image_loc = root.child(IMAGE_NAME)
    plate_loc = root.child(PLATE_NAME)
    run = {"scheduler": scheduler, "progress": progress}
    chunks = chunks or (512 if size > 1024 else 256)
    if not overwrite:
        # refuse before anything is written (the sample TIFF under sources/ included)
        for loc in (image_loc, plate_loc):
            _refuse_existing(loc)

    # (1) the multi-channel image, through the OME-TIFF converter
    with tempfile.TemporaryDirectory(prefix="ngffstore-demo-") as tmp:
        sources = os.path.join(root.url, "sources") if root.is_local else tmp
        tiff = os.path.join(sources, "cells.ome.tif")
        with storage_errors(Location.parse(sources), "write"):
            os.makedirs(sources, exist_ok=True)
            write_sample_tiff(tiff, size, seed)
        write_image(plugins.converters().open_source(tiff), image_loc, overwrite=overwrite, chunks=chunks, **run)
    image_url = image_loc.url
    write_metadata(
        {"experiment": "demo", "organism": "synthetic", "stain": "DAPI/Membrane/Spots", "condition": "control"},
        image_url,
        tags=["demo", "cells"],
        description="Synthetic fluorescence image of cells: nuclei (DAPI), membranes and spots.",
        storage_options=so,
    )
    image = open_image(image_url, storage_options=so)
    labels, n_nuclei = segment_nuclei(image, scheduler=scheduler)
    write_labels(
        labels, image_url, name=LABEL_NAME, overwrite=overwrite, storage_options=so,
        properties=nucleus_properties(n_nuclei), **run,
    )
    write_rois(
        _annotations(size, seed), image_url, layer=USER_LAYER, kind="user", author="demo-user",
        ontology=ONTOLOGY, overwrite=overwrite, storage_options=so,
    )
    from_labels(
        image_url, label=LABEL_NAME, layer=ALGORITHM_LAYER, kind="algorithm", author="ngffstore demo (threshold)",
        overwrite=overwrite, storage_options=so, scheduler=scheduler,
    )

    # (2) the plate, with nuclei labels per field
    write_plate(
        _plate_fields(seed, fields_per_well), plate_loc, name="demo plate", axes="cyx", overwrite=overwrite, storage_options=so,
        channels=["DAPI", "GFP"], scale={"y": 0.65, "x": 0.65}, units={"y": "micrometer", "x": "micrometer"},
        chunks=PLATE_FIELD_SIZE, **run,
    )
    plate = open_plate(plate_loc.url, storage_options=so)
    write_metadata(
        {"experiment": "demo", "assay": "dose response", "compound": "demo-123"},
        plate.url,
        tags=["demo", "plate"],
        description="Demo 6-well plate: GFP rises with the dose per column.",
        storage_options=so,
    )
    jobs = []
    for ref in plate:
        well = plate.well(ref.row, ref.column)
        write_metadata(
            {"dose_uM": DOSES[ref.column], "compound": "demo-123"},
            well.url,
            storage_options=so,
        )
        jobs += [(ref, i, fimg) for i, fimg in enumerate(well.fields)]

    def label_field(job: tuple[Any, int, Any]) -> tuple[str, int]:
        ref, i, fimg = job
        lab, n = segment_nuclei(fimg, scheduler="synchronous")
        write_labels(lab, fimg.url, name=LABEL_NAME, overwrite=overwrite, storage_options=so,
                     scheduler="synchronous", progress=False)
        write_metadata(
            {"dose_uM": DOSES[ref.column], "well": ref.name},
            fimg.url,
            tags=["demo"],
            storage_options=so,
        )
        return f"{ref.name}/{i}", n

    # fields are small: label them a few at a time (the time goes into object-store round trips)
    with ThreadPoolExecutor(max_workers=4) as pool:
        field_nuclei = dict(pool.map(label_field, jobs))

    # (3) the index
    build_index(root.url, storage_options=so, rebuild=True)
    from ..index.search import search

    rows = len(search(root.url, storage_options=so))
    report = DemoReport(
        root=root.url,
        image=image_url,
        plate=plate.url,
        image_shape=tuple(image.shape),
        nuclei=n_nuclei,
        rois=_roi_counts(image_url, so),
        wells=len(plate),
        fields=len(field_nuclei),
        field_nuclei=field_nuclei,
        index_rows=rows,
        seconds=time.perf_counter() - t0,
    )
    return report


def _refuse_existing(location: Location) -> None:
    """OutputExistsError when something other than an interrupted ngffstore write is at ``location``
    (an interrupted one is resumed by the writers)."""
    from ..errors import NgffStoreError, OutputExistsError
    from ..nodes import exists_anything, read_attrs

    if not exists_anything(location):
        return
    try:
        _, attrs = read_attrs(location)
    except NgffStoreError:
        attrs = {}
    if "writing" in (attrs.get("ngffstore") or {}):
        return
    raise OutputExistsError(
        f"{location.url} already exists; nothing was changed: pass --overwrite (overwrite=True) "
        "to replace the demo collection, or choose another destination"
    )


def _roi_counts(image_url: str, storage_options: Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    from ..rois import read_rois_attrs

    try:
        attrs = read_rois_attrs(image_url, storage_options=storage_options)
    except Exception:  # noqa: BLE001 - the summary is informative only
        return {}
    out = {}
    for name, layer in attrs.layers.items():
        terms = dict(layer.terms)
        if not terms:
            terms = {"(no term)": layer.count}
        out[name] = {str(k): int(v) for k, v in terms.items()}
    return out
