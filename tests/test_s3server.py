"""The S3 test infrastructure itself: moto servers on 127.0.0.1, credentials, public bucket,
request counting, fixtures."""

from __future__ import annotations

import threading

import boto3
import numpy as np
import pytest
import s3fs
import zarr
from botocore.config import Config
from botocore.exceptions import ClientError

try:
    from s3server import classify
except ImportError:  # tests/ turned into a package
    from tests.s3server import classify


def _zarr_store(url, options, read_only=False):
    return zarr.storage.FsspecStore.from_url(url, storage_options=options, read_only=read_only)


# -- servers ----------------------------------------------------------------------------------
def test_servers_bind_loopback(s3_server):
    for url in (s3_server.endpoint_url, s3_server.public_endpoint_url):
        assert url.startswith("http://127.0.0.1:")
    assert s3_server.auth.running and s3_server.public.running
    assert s3_server.endpoint_url != s3_server.public_endpoint_url


def test_zarr_roundtrip(s3_bucket, s3_options, s3_server):
    url = f"s3://{s3_bucket}/x.zarr"
    data = np.arange(100, dtype="uint16").reshape(10, 10)
    arr = zarr.create_array(
        _zarr_store(url, s3_options), shape=(10, 10), chunks=(5, 5), dtype="uint16"
    )
    arr[:] = data

    keys = {o["Key"] for o in s3_server.auth.client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert keys == {
        "x.zarr/zarr.json",
        "x.zarr/c/0/0",
        "x.zarr/c/0/1",
        "x.zarr/c/1/0",
        "x.zarr/c/1/1",
    }

    back = zarr.open_array(_zarr_store(url, s3_options, read_only=True))
    np.testing.assert_array_equal(back[:], data)


def test_s3fs_listing_with_prefix_and_delimiter(s3_server, s3_bucket, s3_options):
    # Signed requests with escaped query values (prefix=a%2F, delimiter=%2F) must pass moto's
    # signature check (see s3server._patch_moto_signature_check).
    fs = s3fs.S3FileSystem(**s3_options)
    with s3_server.count() as log:
        fs.pipe(
            {
                f"{s3_bucket}/a/b/c.txt": b"1",
                f"{s3_bucket}/a/d e+f.txt": b"2",
                f"{s3_bucket}/é.txt": b"3",
            }
        )
    assert sorted(log.keys("PUT")) == ["a/b/c.txt", "a/d e+f.txt", "é.txt"]
    assert sorted(fs.ls(f"{s3_bucket}/a", detail=False)) == [
        f"{s3_bucket}/a/b",
        f"{s3_bucket}/a/d e+f.txt",
    ]
    assert sorted(fs.find(s3_bucket)) == [
        f"{s3_bucket}/a/b/c.txt",
        f"{s3_bucket}/a/d e+f.txt",
        f"{s3_bucket}/é.txt",
    ]
    assert fs.cat_file(f"{s3_bucket}/a/d e+f.txt") == b"2"
    assert fs.cat_file(f"{s3_bucket}/é.txt") == b"3"


# -- credentials ------------------------------------------------------------------------------
def test_bad_secret_is_refused(s3_bucket, s3_options, s3_bad_options):
    s3fs.S3FileSystem(**s3_options).pipe(f"{s3_bucket}/k.txt", b"abc")
    bad = s3fs.S3FileSystem(**s3_bad_options)
    with pytest.raises(PermissionError, match="signature we calculated does not match"):
        bad.ls(s3_bucket)  # GET ?list-type=2 -> 403 SignatureDoesNotMatch
    with pytest.raises(PermissionError, match="signature we calculated does not match"):
        bad.pipe(f"{s3_bucket}/new.txt", b"x")
    with pytest.raises(PermissionError, match="Forbidden"):
        bad.cat_file(f"{s3_bucket}/k.txt")  # s3fs HEADs first: a 403 without a body
    with pytest.raises(PermissionError, match="signature we calculated does not match"):
        bad.cat_file(f"{s3_bucket}/k.txt", max_concurrency=1)  # GET only


def test_unknown_key_id_is_refused(s3_server, s3_bucket):
    fs = s3fs.S3FileSystem(
        endpoint_url=s3_server.endpoint_url, key="AKIAUNKNOWN000000000", secret="x"
    )
    with pytest.raises(PermissionError, match="Access Key Id you provided does not exist"):
        fs.ls(s3_bucket)


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [
        ("right", "wrong", "SignatureDoesNotMatch"),
        ("AKIAUNKNOWN000000000", "x", "InvalidAccessKeyId"),
    ],
)
def test_boto3_error_codes(s3_server, s3_bucket, key, secret, code):
    good = s3_server.credentials
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=good.key if key == "right" else key,
        aws_secret_access_key=good.secret + "x" if secret == "wrong" else secret,
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as info:
        client.list_objects_v2(Bucket=s3_bucket)
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    client.close()


def test_anonymous_on_auth_server_is_refused(s3_server, s3_bucket):
    fs = s3fs.S3FileSystem(endpoint_url=s3_server.endpoint_url, anon=True)
    with pytest.raises(PermissionError):
        fs.ls(s3_bucket)
    with pytest.raises(PermissionError):
        fs.pipe(f"{s3_bucket}/x", b"1")


def test_s3_env(s3_env, s3_bucket, s3_server):
    fs = s3fs.S3FileSystem()  # credentials, region and endpoint from the environment only
    fs.pipe(f"{s3_bucket}/env.txt", b"env")
    client = boto3.session.Session().client("s3")
    assert client.get_object(Bucket=s3_bucket, Key="env.txt")["Body"].read() == b"env"
    assert s3_env["AWS_ENDPOINT_URL"] == s3_server.endpoint_url
    client.close()


# -- public bucket ----------------------------------------------------------------------------
def test_public_bucket_anonymous_read(s3_server, s3_anon_options):
    bucket = s3_server.public_bucket
    # writing public data needs a signed request (the public server takes any signature)
    url = f"s3://{bucket}/anon-read.zarr"
    data = np.arange(12, dtype="float32").reshape(3, 4)
    zarr.create_array(
        _zarr_store(url, s3_server.public_writer_options), data=data, chunks=(2, 2), overwrite=True
    )

    anon = s3fs.S3FileSystem(**s3_anon_options)
    assert f"{bucket}/hello.txt" in anon.ls(bucket, detail=False)
    assert anon.cat_file(f"{bucket}/hello.txt") == b"hello, public world\n"
    assert anon.info(f"{bucket}/hello.txt", refresh=True)["size"] == 20  # HEAD
    back = zarr.open_array(_zarr_store(url, s3_anon_options, read_only=True))
    np.testing.assert_array_equal(back[:], data)


def test_public_bucket_anonymous_write_fails(s3_server, s3_anon_options):
    bucket = s3_server.public_bucket
    anon = s3fs.S3FileSystem(**s3_anon_options)
    with s3_server.public.count() as log:
        with pytest.raises(PermissionError, match="Access Denied"):
            anon.pipe(f"{bucket}/intruder.txt", b"x")
        with pytest.raises(PermissionError, match="Access Denied"):
            anon.rm_file(f"{bucket}/hello.txt")
        with pytest.raises(PermissionError, match="Access Denied"):
            anon.rm([f"{bucket}/hello.txt", f"{bucket}/other.txt"])  # POST ?delete
    assert {r.status for r in log} == {403}
    assert all(r.anonymous for r in log)
    assert anon.cat_file(f"{bucket}/hello.txt") == b"hello, public world\n"


# -- request counting -------------------------------------------------------------------------
def test_request_counting(s3_server, s3_bucket, s3_options):
    fs = s3fs.S3FileSystem(**s3_options)
    key = "dir/known.bin"
    path = f"{s3_bucket}/{key}"

    with s3_server.count() as log:
        fs.pipe(path, b"0123456789")
    assert log.counts() == {"PUT": 1}
    assert log.keys("PUT") == [key]

    with s3_server.count() as log:
        assert fs.cat_file(path, max_concurrency=1) == b"0123456789"
    assert log.count("GET") == 1 and log.count("HEAD") == 0 and len(log) == 1
    assert log.keys("GET") == [key]
    (request,) = log.requests
    assert (request.method, request.path, request.query) == ("GET", f"/{s3_bucket}/{key}", "")
    assert (request.bucket, request.key, request.status, request.anonymous) == (
        s3_bucket,
        key,
        200,
        False,
    )

    with s3_server.count() as log:
        assert fs.cat_file(path, start=2, end=5) == b"234"  # ranged GET, no HEAD
    assert log.counts() == {"GET": 1}

    # s3fs 2026.9: a whole-file cat_file with max_concurrency > 1 (default 10) HEADs for the size
    with s3_server.count() as log:
        fs.cat_file(path)
    assert log.count("GET", key=key) == 1
    assert log.keys("HEAD") in ([], [key])

    with s3_server.count() as log:
        fs.ls(f"{s3_bucket}/dir", refresh=True)
        assert log.count("LIST") == 1  # live view inside the block
        fs.rm_file(path)
    assert log.counts() == {"LIST": 1, "DELETE": 1}
    assert log.filter("LIST")[0].params["prefix"] == "dir/"
    assert log.keys("DELETE") == [key]


def test_request_counting_concurrent(s3_server, s3_bucket, s3_options):
    fs = s3fs.S3FileSystem(**s3_options)
    paths = [f"{s3_bucket}/many/{i:03d}" for i in range(40)]
    fs.pipe({p: b"x" for p in paths})

    with s3_server.count() as outer:
        threads = [
            threading.Thread(target=fs.cat_file, args=(p,), kwargs={"max_concurrency": 1})
            for p in paths[:20]
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with s3_server.count() as inner:
            fs.cat(paths[20:], max_concurrency=1)  # one asyncio.gather
    assert inner.count("GET") == 20
    assert sorted(inner.keys("GET")) == [p.split("/", 1)[1] for p in paths[20:]]
    assert outer.count("GET") == 40 and outer.count() == 40
    assert len({r.seq for r in outer}) == 40


def test_requests_and_clear(s3_server, s3_bucket, s3_options):
    fs = s3fs.S3FileSystem(**s3_options)
    s3_server.clear_requests()
    with s3_server.count() as log:
        fs.pipe(f"{s3_bucket}/a", b"1")
        s3_server.clear_requests()  # does not drop what an open window needs
        fs.cat_file(f"{s3_bucket}/a", max_concurrency=1)
    assert [r.kind for r in log] == ["PUT", "GET"]
    assert [(r.method, r.path, r.query) for r in s3_server.requests] == [
        ("GET", f"/{s3_bucket}/a", "")
    ]


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/b/k/x.json", "", ("GET", "b", "k/x.json")),
        ("HEAD", "/b/k", "", ("HEAD", "b", "k")),
        ("GET", "/b", "list-type=2&prefix=a%2F", ("LIST", "b", None)),
        ("GET", "/b", "prefix=a", ("LIST", "b", None)),
        ("GET", "/b", "versions", ("LIST", "b", None)),
        ("GET", "/b", "location", ("GET", "b", None)),
        ("GET", "/", "", ("LIST", None, None)),
        ("POST", "/b", "delete", ("BULK_DELETE", "b", None)),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", ("PUT", "b", "k")),
        ("DELETE", "/b/k", "", ("DELETE", "b", "k")),
        ("PUT", "/b", "", ("PUT", "b", None)),
    ],
)
def test_classify(method, path, query, expected):
    assert classify(method, path, query) == expected


# -- fixtures ---------------------------------------------------------------------------------
def test_store_url(store_url):
    url, options = store_url
    data = np.arange(6, dtype="int32").reshape(2, 3)
    zarr.create_array(url, data=data, storage_options=options or None)
    np.testing.assert_array_equal(zarr.open_array(url, storage_options=options or None)[:], data)
    if url.startswith("s3://"):
        assert url.endswith("/store") and options.keys() == {"endpoint_url", "key", "secret"}


def test_reset(s3_server, s3_options):
    fs = s3fs.S3FileSystem(**s3_options)
    bucket = s3_server.create_bucket()
    fs.pipe(f"{bucket}/x", b"1")
    s3fs.S3FileSystem(**s3_server.public_writer_options).pipe(
        f"{s3_server.public_bucket}/extra", b"1"
    )
    s3_server.reset()
    assert s3_server.auth.bucket_names() == []
    public = s3_server.public.client.list_objects_v2(Bucket=s3_server.public_bucket)["Contents"]
    assert [o["Key"] for o in public] == ["hello.txt"]
