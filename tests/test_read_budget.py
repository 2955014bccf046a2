"""Request budgets of the read commands, counted where they arrive: the moto S3 server and the
static HTTP host (``tests/httpserver.py``). Issue 15's table: ``info`` at most 6 requests,
``validate`` exactly one GET per node document (no HEAD, no LIST), ``search`` at most 5,
``index --status`` a few; the README's "What each command costs" quotes these."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ngffstore.cli import main


def _documents(folder: str, *, plate: bool = False) -> int:
    """Node documents (``zarr.json``) stored at and below ``folder``; of a plate, without its row
    groups (``A/zarr.json``: no NGFF node, nothing to validate) and its stored preview (not a
    node of the plate's hierarchy: specs/plate-preview.md)."""
    docs = [p.relative_to(folder) for p in Path(folder).rglob("zarr.json")]
    return sum(1 for p in docs if not (plate and (len(p.parts) == 2 or p.parts[0] == "preview")))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, s3_server: Any) -> Any:
    """The issue's image: 2 channels x 2048 x 2048 uint16, chunks 1024 (4 levels), on S3 and HTTP."""
    import s3fs
    from httpserver import StaticHTTPServer

    import ngffstore

    folder = tmp_path_factory.mktemp("budget")
    data = np.random.default_rng(0).integers(0, 4000, (2, 2048, 2048), dtype=np.uint16)
    ngffstore.write_image(data, str(folder / "cells.ome.zarr"), axes="cyx", chunks=1024, progress=False)
    bucket = s3_server.create_bucket()
    fs = s3fs.S3FileSystem(**s3_server.storage_options)
    files = [str(p) for p in folder.rglob("*") if p.is_file()]
    fs.put(files, [f"{bucket}/{os.path.relpath(p, folder)}" for p in files])
    http = StaticHTTPServer(str(folder)).start()
    yield {"local": str(folder), "s3": f"s3://{bucket}", "http": http.url, "http_server": http}
    http.stop()


def _kinds(log: Any) -> Counter:
    return Counter(getattr(r, "kind", None) or r.method for r in log.requests)


def _cli(argv: list[str], capsys: Any) -> tuple[int, str]:
    capsys.readouterr()
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("backend", ["s3", "http"])
def test_info_of_a_4_level_image_costs_6_gets(big, backend, s3_server, s3_env, capsys):
    server = s3_server if backend == "s3" else big["http_server"]
    with server.count() as log:
        code, text = _cli(["info", f"{big[backend]}/cells.ome.zarr"], capsys)
    assert code == 0, text
    kinds = _kinds(log)
    assert sum(kinds.values()) <= 6 and kinds["GET"] == 6, log.summary()  # group, 4 levels, labels
    assert "stored    0 B" not in text and "stored    " in text  # recorded by the writer


@pytest.mark.parametrize("backend", ["s3", "http"])
def test_validate_costs_one_get_per_node_document(big, backend, s3_server, s3_env, capsys):
    # the image without labels: its documents, plus the one GET that finds no labels group
    server = s3_server if backend == "s3" else big["http_server"]
    with server.count() as log:
        code, text = _cli(["validate", f"{big[backend]}/cells.ome.zarr"], capsys)
    assert code == 0, text
    assert _kinds(log) == Counter(GET=_documents(big["local"]) + 1), log.summary()


@pytest.mark.parametrize("node", ["cells.ome.zarr", "plate.ome.zarr"])
def test_validate_demo_nodes_costs_one_get_per_document(read_backend, node, demo_collection, request, capsys):
    if read_backend.server is None:
        pytest.skip("counted at a server")
    if read_backend.name == "s3":
        request.getfixturevalue("s3_env")
    # every field has labels: no GET finds nothing
    expected = _documents(os.path.join(demo_collection.root, node), plate=node.startswith("plate"))
    with read_backend.count() as log:
        code, text = _cli(["validate", f"{read_backend.root}/{node}", *read_backend.cli], capsys)
    assert code == 0, text
    kinds = _kinds(log)
    assert kinds == Counter(GET=expected), log.summary()
    keys = [getattr(r, "key", None) or r.path for r in log.requests]
    assert len(set(keys)) == len(keys) and all(k.endswith("zarr.json") for k in keys)


def test_search_and_index_status(read_backend, request, capsys):
    if read_backend.server is None:
        pytest.skip("counted at a server")
    if read_backend.name == "s3":
        request.getfixturevalue("s3_env")
    from ngffstore.index import clear_cache

    clear_cache()
    with read_backend.count() as log:
        code, text = _cli(["search", read_backend.root, "dose_uM >= 10", *read_backend.cli], capsys)
    assert code == 0 and "4 match(es)" in text, text
    kinds = _kinds(log)
    assert sum(kinds.values()) <= (5 if read_backend.name == "s3" else 1) and not kinds["HEAD"], log.summary()
    with read_backend.count() as log:
        code, text = _cli(["index", read_backend.root, "--status", *read_backend.cli], capsys)
    assert code == 0, text
    kinds = _kinds(log)
    assert sum(kinds.values()) <= (3 if read_backend.name == "s3" else 1) and not kinds["HEAD"], log.summary()
