"""Reading straight from S3 (moto server on 127.0.0.1): request counts, anonymous public reads,
credentials and faults. Every count is what the server received, not what the client meant."""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
import s3fs
import zarr

import ngffstore
from ngffstore.errors import ReadError, StorageAccessError, StoreNotFoundError
from ngffstore.image import open_image

RNG = np.random.default_rng(7)
DATA = RNG.integers(0, 4000, size=(2, 300, 260), dtype=np.uint16)
CHUNK = 64


def write_local(path, **kwargs):
    kwargs.setdefault("progress", False)
    ngffstore.write_image(DATA, str(path), axes="cyx", chunks=CHUNK, min_size=40, **kwargs)


def upload(fs, local, remote):
    """Put a local store under ``remote`` in one concurrent batch."""
    files = [str(p) for p in local.rglob("*") if p.is_file()]
    fs.put(files, [f"{remote}/{p.relative_to(local).as_posix()}" for p in map(type(local), files)])


@pytest.fixture(scope="module")
def bucket(s3_server, tmp_path_factory):
    """A bucket with the test images (read only): img.zarr (levels 300, 150, 75, 38: paths
    0..3), sharded.zarr, v2.zarr (NGFF 0.4) and cons.zarr (v3 with consolidated metadata)."""
    local = tmp_path_factory.mktemp("s3-images")
    write_local(local / "img.zarr")
    write_local(local / "sharded.zarr", shards=(1, 128, 128))
    write_local(local / "v2.zarr", ngff_version="0.4")
    write_local(local / "cons.zarr")
    zarr.consolidate_metadata(str(local / "cons.zarr"))
    name = s3_server.create_bucket()
    fs = s3fs.S3FileSystem(**s3_server.storage_options)
    for store in ("img.zarr", "sharded.zarr", "v2.zarr", "cons.zarr"):
        upload(fs, local / store, f"{name}/{store}")
    yield name
    s3_server.delete_bucket(name)


@pytest.fixture
def s3_image(bucket):
    return f"s3://{bucket}/img.zarr"


def chunk_keys(prefix, level_shape, chunk, region, sep="/", v3=True):
    """The chunk keys a level-space region ``(c, y0, y1, x0, x1)`` touches."""
    cs, (y0, y1), (x0, x1) = region
    rows = range(y0 // chunk, (y1 - 1) // chunk + 1)
    cols = range(x0 // chunk, (x1 - 1) // chunk + 1)
    head = f"{prefix}/c/" if v3 else f"{prefix}/"
    return sorted(f"{head}{c}{sep}{r}{sep}{q}" for c, r, q in itertools.product(cs, rows, cols))


def only_gets(log):
    assert set(log.counts()) <= {"GET"}, log.summary()


# -- request counts ---------------------------------------------------------------------------
def test_open_costs_a_few_gets(s3_server, s3_image, s3_options):
    with s3_server.count() as log:
        image = open_image(s3_image, storage_options=s3_options)
    only_gets(log)
    assert len(log) <= 4
    # the group, level 0, and the lowest levels (thumbnails) in one concurrent round
    assert sorted(log.keys("GET")) == sorted(
        [
            "img.zarr/zarr.json",
            "img.zarr/0/zarr.json",
            "img.zarr/3/zarr.json",
            "img.zarr/2/zarr.json",
        ]
    )
    assert image.shape == (2, 300, 260)
    with s3_server.count() as log:
        assert len(image.levels) == 4  # one more GET: level 1
        assert image.labels == ()  # one GET (404): no labels group, no probing
    assert sorted(log.keys()) == ["img.zarr/1/zarr.json", "img.zarr/labels/zarr.json"]


def test_window_costs_one_get_per_chunk(s3_server, s3_image, s3_options):
    image = open_image(s3_image, storage_options=s3_options)
    with s3_server.count() as log:
        out = image.window(50, 100, 100, 40).compute()  # rows 100-139, cols 50-149
    np.testing.assert_array_equal(out, DATA[:, 100:140, 50:150])
    only_gets(log)
    assert sorted(log.keys("GET")) == chunk_keys(
        "img.zarr/0", (300, 260), CHUNK, ([0, 1], (100, 140), (50, 150))
    )
    # the same through dask (threads): still one GET per chunk
    with s3_server.count() as log:
        image.window(50, 100, 100, 40, c=1).data.compute()
    only_gets(log)
    assert sorted(log.keys("GET")) == chunk_keys(
        "img.zarr/0", (300, 260), CHUNK, ([1], (100, 140), (50, 150))
    )


def test_window_at_a_level_touches_that_level_only(s3_server, s3_image, s3_options):
    image = open_image(s3_image, storage_options=s3_options)
    with s3_server.count() as log:
        region = image.window(0, 0, 260, 300, max_size=100)
        region.compute()
    assert region.level == 1
    only_gets(log)
    keys = log.keys("GET")
    assert all(k.startswith("img.zarr/1/") for k in keys), keys
    assert sorted(k for k in keys if "/c/" in k) == chunk_keys(
        "img.zarr/1", (150, 130), CHUNK, ([0, 1], (0, 150), (0, 130))
    )
    assert keys.count("img.zarr/1/zarr.json") == 1


def test_thumbnail_touches_only_its_level(s3_server, s3_image, s3_options):
    image = open_image(s3_image, storage_options=s3_options)
    with s3_server.count() as log:
        thumb = image.thumbnail(64).compute()
    assert thumb.shape == (2, 64, 55)
    only_gets(log)
    # level 2 (75 x 65) metadata came with the open: one GET per chunk of that level, nothing else
    assert sorted(log.keys("GET")) == chunk_keys(
        "img.zarr/2", (75, 65), CHUNK, ([0, 1], (0, 75), (0, 65))
    )
    with s3_server.count() as log:
        image.thumbnail(38, c=0).compute()
    assert log.keys("GET") == ["img.zarr/3/c/0/0/0"]


def test_pickled_image_reads_without_reopening_metadata(s3_server, s3_image, s3_options):
    image = open_image(s3_image, storage_options=s3_options)
    image.levels  # noqa: B018 - fetch every level's metadata
    back = pickle.loads(pickle.dumps(image))
    with s3_server.count() as log:
        np.testing.assert_array_equal(
            back.window(0, 0, 10, 10, level=1).compute(), image.to_dask(1)[:, :5, :5].compute()
        )
    assert all("/c/" in k for k in log.keys("GET")), log.summary()


def test_sharded_window_gets_index_and_ranges(s3_server, bucket, s3_options):
    url = f"s3://{bucket}/sharded.zarr"
    image = open_image(url, storage_options=s3_options)
    with s3_server.count() as log:
        out = image.window(10, 10, 40, 40, c=0).compute()  # one inner chunk of shard 0/0/0
    np.testing.assert_array_equal(out, DATA[0, 10:50, 10:50])
    only_gets(log)
    assert log.keys("GET") == ["sharded.zarr/0/c/0/0/0"] * 2  # the shard index, then one range
    assert {r.query for r in log} == {""}  # ranges are headers, not queries
    with s3_server.count() as log:
        out = image.window(10, 10, 100, 100, c=0).compute()  # every inner chunk of the shard
    np.testing.assert_array_equal(out, DATA[0, 10:110, 10:110])
    assert log.keys("GET") == ["sharded.zarr/0/c/0/0/0"]  # zarr reads the whole shard at once


def test_v2_store_and_consolidated_metadata(s3_server, bucket, s3_options):
    url = f"s3://{bucket}/v2.zarr"
    with s3_server.count() as log:
        image = open_image(url, storage_options=s3_options)
    only_gets(log)
    assert len(log) <= 4 and log.keys()[:2] == ["v2.zarr/zarr.json", "v2.zarr/.zattrs"]
    with s3_server.count() as log:
        np.testing.assert_array_equal(image.window(0, 0, 70, 10, c=1).compute(), DATA[1, :10, :70])
    assert sorted(log.keys()) == ["v2.zarr/0/1/0/0", "v2.zarr/0/1/0/1"]
    # Zarr v3 with inline consolidated metadata: opening is one GET, levels are free
    with s3_server.count() as log:
        image = open_image(f"s3://{bucket}/cons.zarr", storage_options=s3_options)
        assert len(image.levels) == 4
        image.thumbnail(64, c=0).compute()
    assert log.keys()[0] == "cons.zarr/zarr.json"
    assert sorted(log.keys()[1:]) == chunk_keys(
        "cons.zarr/2", (75, 65), CHUNK, ([0], (0, 75), (0, 65))
    )


def test_public_bucket_anonymous(s3_server, s3_anon_options, tmp_path):
    local = tmp_path / "anon.zarr"
    ngffstore.write_image(
        DATA[:, :128, :128], str(local), axes="cyx", chunks=CHUNK, levels=1, progress=False
    )
    upload(
        s3fs.S3FileSystem(**s3_server.public_writer_options),
        local,
        f"{s3_server.public_bucket}/anon-image.zarr",
    )
    url = f"s3://{s3_server.public_bucket}/anon-image.zarr"
    with s3_server.public.count() as log:
        image = open_image(url, storage_options=s3_anon_options)
        out = image.window(0, 0, 64, 64).compute()
    np.testing.assert_array_equal(out, DATA[:, :64, :64])
    assert log.requests and all(r.anonymous and r.status == 200 for r in log), log.summary()
    only_gets(log)


# -- faults -----------------------------------------------------------------------------------
def test_wrong_credentials(s3_image, s3_bad_options):
    with pytest.raises(StorageAccessError, match="access denied") as info:
        open_image(s3_image, storage_options=s3_bad_options)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_credentials_revoked_after_open(s3_image, s3_options, s3_bad_options):
    image = open_image(s3_image, storage_options=s3_options)
    bad = pickle.loads(pickle.dumps(image))
    object.__setattr__(bad._storage.location, "storage_options", s3_bad_options)
    with pytest.raises(StorageAccessError):
        bad.window(0, 0, 10, 10).compute()


def test_unknown_bucket_and_prefix(bucket, s3_options):
    with pytest.raises(StoreNotFoundError, match="no Zarr group"):
        open_image(f"s3://{bucket}/nothing.zarr", storage_options=s3_options)
    with pytest.raises((StoreNotFoundError, ngffstore.StorageError)):
        open_image("s3://no-such-bucket-ngffstore/x.zarr", storage_options=s3_options)


def test_corrupt_chunk_on_s3(s3_bucket, s3_options, tmp_path):
    write_local(tmp_path / "c.zarr", levels=1)
    fs = s3fs.S3FileSystem(**s3_options)
    upload(fs, tmp_path / "c.zarr", f"{s3_bucket}/c.zarr")
    fs.pipe(f"{s3_bucket}/c.zarr/0/c/0/1/1", b"\x00garbage")
    image = open_image(f"s3://{s3_bucket}/c.zarr", storage_options=s3_options)
    with pytest.raises(ReadError, match="chunk 0/c/0/1/1 of s3://"):
        image.window(60, 60, 10, 10).compute()
    assert math.isfinite(image.window(0, 0, 10, 10).compute().sum())
