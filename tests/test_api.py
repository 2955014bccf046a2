"""The top-level API: every public name resolves lazily, none is shadowed by a submodule, and
the old argument orders keep working for one release with a DeprecationWarning."""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import numpy as np
import pytest

import ngffstore
from ngffstore import StoreNotFoundError
from ngffstore.index import IndexNotFoundError
from ngffstore.source import Attachment


def test_every_public_name_resolves_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        missing = [name for name in ngffstore.__all__ if getattr(ngffstore, name, None) is None]
    assert missing == []
    assert set(ngffstore._LAZY) <= set(ngffstore.__all__)


def test_no_top_level_name_is_also_a_submodule():
    # ``import ngffstore.x`` sets the attribute ``ngffstore.x`` to the module: a function of
    # that name would be replaced by it as soon as anything imports the module
    modules = {m.name for m in pkgutil.iter_modules(ngffstore.__path__)}
    assert sorted(set(ngffstore._LAZY) & modules) == []
    importlib.import_module("ngffstore.index.search")
    importlib.import_module("ngffstore.validation")
    assert callable(ngffstore.search) and callable(ngffstore.validate) and callable(ngffstore.crop)


@pytest.fixture
def image(tmp_path):
    url = str(tmp_path / "coll" / "img.zarr")
    ngffstore.write_image(np.arange(2 * 32 * 24, dtype=np.uint16).reshape(2, 32, 24), url, axes="cyx", progress=False)
    return url


def test_open_collection_searches_and_opens(tmp_path, image):
    root = str(tmp_path / "coll")
    with pytest.raises(IndexNotFoundError, match="ngffstore index"):
        ngffstore.open_collection(root)
    ngffstore.build_index(root)
    ngffstore.write_metadata({"strain": "BY4741"}, image)  # journaled, not folded in yet
    coll = ngffstore.open_collection(root)
    assert len(coll) == 1 and coll.status.pending_changes == 1 and coll.url.endswith("coll")
    hits = coll.search('strain == "BY4741"')
    assert list(hits["path"]) == ["img.zarr"]
    assert coll.open("img.zarr").shape == (2, 32, 24)
    with pytest.raises(StoreNotFoundError):
        coll.open("missing.zarr")


def test_old_argument_orders_warn_and_work(tmp_path, image):
    att = Attachment(name="macro", data=np.zeros((8, 8), np.uint8))
    with pytest.warns(DeprecationWarning, match=r"write_attachments\(url, attachments\) is deprecated"):
        (info,) = ngffstore.write_attachments(image, [att])
    assert info.name == "macro" and list(ngffstore.list_attachments(image)) == ["macro"]

    from ngffstore.plate import write_plate_metadata, write_well_metadata

    plate = str(tmp_path / "plate.zarr")
    ngffstore.write_image(np.zeros((8, 8), np.uint8), f"{plate}/A/1/0", axes="yx", progress=False)
    with pytest.warns(DeprecationWarning, match=r"write_well_metadata\(url, images\)"):
        write_well_metadata(f"{plate}/A/1", ["0"])
    with pytest.warns(DeprecationWarning, match=r"use ngffstore.plate.write_plate_metadata\(wells, url\)"):
        attrs = write_plate_metadata(plate, ["A1"])
    assert attrs["ome"]["plate"]["wells"][0]["path"] == "A/1"
    assert len(ngffstore.open_plate(plate).well("A1")) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_plate_metadata(["A1"], plate)  # the new order: no warning
