"""ROI benchmark: 1,000,000 polygons in one layer -- import time, bbox query time, peak memory.

    python benchmarks/rois.py                    # 1,000,000 hexagons on a 100,000 x 100,000 image
    python benchmarks/rois.py --n 200000 --no-s3
    python benchmarks/rois.py --geojson          # also import from a GeoJSON FeatureCollection

What is measured (one run, wall time):

* **import (API)**: ``ngffstore.rois.write_rois`` of a DataFrame of 1M shapely hexagons with one
  of three terms and a ``score`` property each (validation, WKB, Hilbert sort, GeoParquet,
  attributes). Target: < 60 s.
* **import (CSV file)**: the CLI path -- ``converters.rois.read_rois_file`` of a CSV with a WKT
  column, a term column and a score column, then ``write_rois``.
* **bbox query**: ``ngffstore.rois.query(url, bbox=...)`` of random square boxes holding ~1,000
  ROIs each (median and max of 20; one first query reported apart). Target: < 0.5 s locally.
* the same query on **S3** (a moto server on 127.0.0.1, started as ``tests/s3server.py`` does),
  with the layer written there by ``write_rois``.

The image is metadata only (an empty 100,000^2 uint8 level): ROIs need the image's extent, not
its pixels. Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import shapely

HERE = os.path.dirname(os.path.abspath(__file__))
EXTENT = 100_000


def empty_image(url: str, storage_options: dict | None = None) -> str:
    """A one-level NGFF 0.5 image of EXTENT x EXTENT uint8 with no chunk written."""
    import zarr

    from ngffstore.storage import Location

    location = Location.parse(url, storage_options)
    group = zarr.open_group(location.zarr_store(), mode="w", zarr_format=3)
    group.create_array("0", shape=(EXTENT, EXTENT), chunks=(1024, 1024), dtype="uint8")
    group.attrs.update(
        {
            "ome": {
                "version": "0.5",
                "multiscales": [
                    {
                        "name": "empty",
                        "axes": [
                            {"name": "y", "type": "space", "unit": "micrometer"},
                            {"name": "x", "type": "space", "unit": "micrometer"},
                        ],
                        "datasets": [
                            {
                                "path": "0",
                                "coordinateTransformations": [
                                    {"type": "scale", "scale": [0.25, 0.25]}
                                ],
                            }
                        ],
                    }
                ],
            }
        }
    )
    return location.url


def hexagons(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(20, EXTENT - 20, (n, 2))
    radius = rng.uniform(4, 15, n)
    angles = np.linspace(0, 2 * np.pi, 7)[:-1]
    ring = np.stack(
        [
            centres[:, None, 0] + radius[:, None] * np.cos(angles),
            centres[:, None, 1] + radius[:, None] * np.sin(angles),
        ],
        axis=-1,
    )
    return shapely.polygons(ring)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_queries(url: str, options: dict | None, boxes: list[tuple[float, ...]]) -> dict:
    from ngffstore import rois

    first = time.perf_counter()
    df = rois.query(url, bbox=boxes[0], storage_options=options)
    first = time.perf_counter() - first
    times, counts, groups = [], [], []
    for box in boxes[1:]:
        t = time.perf_counter()
        df = rois.query(url, bbox=box, storage_options=options)
        times.append(time.perf_counter() - t)
        counts.append(len(df))
        groups.append(df.attrs["ngffstore"]["row_groups_read"])
    return {
        "first_s": first,
        "median_s": statistics.median(times),
        "max_s": max(times),
        "rois_median": int(statistics.median(counts)),
        "row_groups_read_median": int(statistics.median(groups)),
        "row_groups": df.attrs["ngffstore"]["row_groups"],
    }


def query_boxes(n: int, k: int = 21, seed: int = 1) -> list[tuple[float, ...]]:
    side = EXTENT * np.sqrt(1000 / n)  # ~1,000 ROIs per box
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, EXTENT - side, (k, 2))
    return [(float(x), float(y), float(side), float(side)) for x, y in xy]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="polygons (default 1,000,000)")
    parser.add_argument("--no-s3", dest="s3", action="store_false", help="skip the S3 part")
    parser.add_argument("--no-csv", dest="csv", action="store_false", help="skip the CSV import")
    parser.add_argument("--geojson", action="store_true", help="also import from a GeoJSON file")
    parser.add_argument(
        "--workdir", default=None, help="where to write (default: a temporary folder)"
    )
    args = parser.parse_args()

    from converters.rois import read_rois_file
    from ngffstore import rois

    work = args.workdir or tempfile.mkdtemp(prefix="ngffstore-rois-bench-")
    os.makedirs(work, exist_ok=True)
    results: dict = {"n": args.n, "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    try:
        url = empty_image(os.path.join(work, "img.zarr"))
        geoms = hexagons(args.n)
        terms = np.array(["tumor", "stroma", "immune"], dtype=object)[np.arange(args.n) % 3]
        frame = pd.DataFrame(
            {"geometry": geoms, "term": terms, "score": np.round(np.linspace(0, 1, args.n), 6)}
        )

        t, cpu = time.perf_counter(), time.process_time()
        layer = rois.write_rois(frame, url, layer="cells", kind="algorithm", author="bench")
        results["import_api_s"] = time.perf_counter() - t
        results["import_api_cpu_s"] = time.process_time() - cpu
        size = sum(f.bytes for f in layer.files)
        results["parquet_mib"] = size / 2**20
        results["peak_rss_api_mib"] = peak_rss_mib()
        print(
            f"import (API)      {args.n:,} polygons in {results['import_api_s']:.1f} s "
            f"(CPU {results['import_api_cpu_s']:.1f} s) "
            f"({size / 2**20:.0f} MiB GeoParquet; peak RSS so far {peak_rss_mib():.0f} MiB)",
            flush=True,
        )

        boxes = query_boxes(args.n)
        q = time_queries(url, None, boxes)
        results["query_local"] = q
        print(
            f"bbox query local  median {q['median_s'] * 1000:.0f} ms, max {q['max_s'] * 1000:.0f} ms, "
            f"first {q['first_s'] * 1000:.0f} ms; ~{q['rois_median']} ROIs, "
            f"{q['row_groups_read_median']}/{q['row_groups']} row groups read",
            flush=True,
        )
        t = time.perf_counter()
        stats = rois.statistics(url)
        results["stats_s"] = time.perf_counter() - t
        print(
            f"stats per term    {results['stats_s'] * 1000:.0f} ms ({len(stats)} terms)", flush=True
        )

        if args.csv:
            path = os.path.join(work, "rois.csv")
            wkt = shapely.to_wkt(geoms, rounding_precision=3)
            pd.DataFrame({"wkt": wkt, "term": terms, "score": frame["score"]}).to_csv(
                path, index=False
            )
            t, cpu = time.perf_counter(), time.process_time()
            parsed = read_rois_file(path)
            rois.write_rois(parsed, url, layer="from-csv", kind="algorithm")
            results["import_csv_s"] = time.perf_counter() - t
            results["import_csv_cpu_s"] = time.process_time() - cpu
            print(
                f"import (CSV file) {args.n:,} polygons in {results['import_csv_s']:.1f} s "
                f"(CPU {results['import_csv_cpu_s']:.1f} s) "
                f"(peak RSS so far {peak_rss_mib():.0f} MiB)",
                flush=True,
            )
            del parsed

        if args.geojson:
            path = os.path.join(work, "rois.geojson")
            with open(path, "w") as fh:
                fh.write('{"type":"FeatureCollection","features":[\n')
                gj = shapely.to_geojson(geoms)
                for i, g in enumerate(gj):
                    sep = ",\n" if i else ""
                    fh.write(
                        f'{sep}{{"type":"Feature","geometry":{g},"properties":'
                        f'{{"classification":{{"name":"{terms[i]}"}}}}}}'
                    )
                fh.write("\n]}\n")
            t, cpu = time.perf_counter(), time.process_time()
            parsed = read_rois_file(path)
            rois.write_rois(parsed, url, layer="from-geojson", kind="algorithm")
            results["import_geojson_s"] = time.perf_counter() - t
            results["import_geojson_cpu_s"] = time.process_time() - cpu
            print(
                f"import (GeoJSON)  {args.n:,} polygons in {results['import_geojson_s']:.1f} s "
                f"(CPU {results['import_geojson_cpu_s']:.1f} s) "
                f"(peak RSS so far {peak_rss_mib():.0f} MiB)",
                flush=True,
            )
            del parsed

        results["peak_rss_mib"] = peak_rss_mib()
        print(f"peak RSS          {results['peak_rss_mib']:.0f} MiB", flush=True)

        if args.s3:
            sys.path.insert(0, os.path.join(HERE, "..", "tests"))
            from s3server import S3TestServer

            server = S3TestServer().start()
            try:
                bucket = server.create_bucket()
                options = server.storage_options
                s3_url = empty_image(f"s3://{bucket}/img.zarr", options)
                t = time.perf_counter()
                rois.write_rois(
                    frame, s3_url, layer="cells", kind="algorithm", storage_options=options
                )
                results["import_s3_s"] = time.perf_counter() - t
                print(
                    f"import (API, S3)  {args.n:,} polygons in {results['import_s3_s']:.1f} s",
                    flush=True,
                )
                with server.count() as log:
                    q = time_queries(s3_url, options, boxes)
                q["requests_per_query"] = len(log.requests) / len(boxes)
                results["query_s3"] = q
                print(
                    f"bbox query S3     median {q['median_s'] * 1000:.0f} ms, max {q['max_s'] * 1000:.0f} ms, "
                    f"first {q['first_s'] * 1000:.0f} ms; ~{q['rois_median']} ROIs, "
                    f"{q['row_groups_read_median']}/{q['row_groups']} row groups, "
                    f"{q['requests_per_query']:.1f} requests per query",
                    flush=True,
                )
            finally:
                server.stop()
        print(json.dumps(results, indent=1, default=float))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
