"""Requests the writers send to S3, counted at the moto server: chunk objects plus a handful of
documents, never a HEAD or a LIST (issue 15's budgets: convert and labels add = chunk objects
+ 14 at most, a plate field = its chunk objects + 12 at most)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import ngffstore
from ngffstore.cli import main as cli


def _chunk_puts(log) -> int:
    return sum(1 for r in log.requests if r.kind == "PUT" and "/c/" in (r.key or ""))


def _no_probes(log) -> None:
    counts = log.counts()
    assert counts.get("HEAD", 0) == 0 and counts.get("LIST", 0) == 0, log.summary()


@pytest.fixture
def two_channel_tiff(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, rng.integers(0, 4000, (2, 2048, 2048), dtype=np.uint16), metadata={"axes": "CYX"})
    label = tmp_path / "lab.tif"
    tifffile.imwrite(label, (rng.integers(0, 5, (2048, 2048)) * (np.arange(2048)[None, :] // 512 + 1)).astype(np.uint32))
    return path, label


def test_convert_and_labels_add_cost_chunk_objects_plus_14(s3_server, s3_bucket, s3_env, two_channel_tiff):
    image, label = two_channel_tiff
    url = f"s3://{s3_bucket}/cells.ome.zarr"
    with s3_server.count() as log:
        assert cli(["convert", str(image), url, "--chunks", "1024", "--no-progress"]) == 0
    _no_probes(log)
    assert _chunk_puts(log) == 14  # 8 + 2 + 2 + 2 chunk objects
    assert len(log) - _chunk_puts(log) <= 14, log.summary()
    info = ngffstore.image_info(url)
    chunk_bytes = sum(s3_server.auth.client.head_object(Bucket=s3_bucket, Key=k)["ContentLength"]
                      for k in {r.key for r in log.requests if r.kind == "PUT" and "/c/" in r.key})
    assert chunk_bytes < info.bytes_stored < chunk_bytes + 20_000  # chunks + documents, recorded

    with s3_server.count() as log:
        assert cli(["labels", "add", url, str(label), "--name", "cells", "--no-progress"]) == 0
    _no_probes(log)
    assert _chunk_puts(log) > 0
    assert len(log) - _chunk_puts(log) <= 14, log.summary()
    labels = ngffstore.open_labels(url, "cells")
    assert labels.shape == (2048, 2048) and len(labels.multiscale.datasets) == 4


def test_write_image_api_budget(s3_server, s3_bucket, s3_options):
    data = np.random.default_rng(1).integers(0, 4000, (2, 2048, 2048), dtype=np.uint16)
    with s3_server.count() as log:
        ngffstore.write_image(data, f"s3://{s3_bucket}/api.ome.zarr", axes="cyx", chunks=1024,
                              storage_options=s3_options, progress=False)
    _no_probes(log)
    assert _chunk_puts(log) == 14
    assert len(log) - _chunk_puts(log) <= 14, log.summary()


def test_plate_field_costs_its_chunks_plus_12(s3_server, s3_bucket, s3_options):
    rng = np.random.default_rng(2)
    fields = [(r, c, f, rng.integers(1, 4000, (256, 256), dtype=np.uint16))
              for r in "AB" for c in (1, 2, 3) for f in (0, 1)]
    with s3_server.count() as log:
        ngffstore.write_plate(fields, f"s3://{s3_bucket}/plate.ome.zarr", storage_options=s3_options, progress=False,
                              preview=False)  # the stored preview's cost: tests/plate/test_plate_preview.py
    _no_probes(log)
    assert _chunk_puts(log) == 12
    assert (len(log) - _chunk_puts(log)) / 12 <= 12, log.summary()
