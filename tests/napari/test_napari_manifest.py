"""The npe2 manifest: valid for npe2, installed as the ``napari.manifest`` entry point, and its
reader command found and run by npe2's own plugin manager (as napari does), without napari."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from importlib import resources
from importlib.metadata import entry_points
from typing import Any

import pytest

npe2 = pytest.importorskip("npe2", reason="npe2 is in the test extra: pip install -e '.[test]'")

IMAGE = "cells.ome.zarr"


def _manifest_path() -> str:
    return str(resources.files("ngffstore.napari").joinpath("napari.yaml"))


def test_manifest_is_valid_and_names_the_reader():
    manifest = npe2.PluginManifest.from_file(_manifest_path())
    assert manifest.name == "ngffstore"
    (reader,) = manifest.contributions.readers
    assert reader.accepts_directories is True and reader.filename_patterns == ["*"]
    (command,) = [c for c in manifest.contributions.commands if c.id == reader.command]
    from ngffstore.napari import napari_get_reader

    module, _, name = command.python_name.partition(":")
    assert getattr(importlib.import_module(module), name) is napari_get_reader


def test_npe2_validate_command_accepts_the_installed_plugin():
    out = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "ngffstore"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout.lower()


def test_entry_point_resolves_to_the_packaged_manifest():
    (ep,) = [e for e in entry_points(group="napari.manifest") if e.name == "ngffstore"]
    assert ep.value == "ngffstore.napari:napari.yaml"
    module, _, filename = ep.value.partition(":")
    assert os.path.samefile(str(resources.files(module).joinpath(filename)), _manifest_path())
    manifest = npe2.PluginManifest.from_distribution("ngffstore")
    assert manifest.name == "ngffstore" and manifest.contributions.readers


@pytest.fixture
def plugin_manager() -> Any:
    pm = npe2.PluginManager.instance()
    pm.discover()
    return pm


def test_npe2_reads_the_demo_image_through_the_plugin(plugin_manager, demo_collection, tmp_path):
    path = os.path.join(str(demo_collection.root), IMAGE)
    readers = [r.command for r in plugin_manager.iter_compatible_readers([path])]
    assert "ngffstore.get_reader" in readers
    layers = npe2.io_utils.read([path], stack=False, plugin_name="ngffstore")
    assert [kind for _, _, kind in layers] == ["image", "labels", "shapes", "shapes"]
    # a folder that is no OME-Zarr: the reader declines (napari then tries another reader)
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError):
        npe2.io_utils.read([str(tmp_path / "plain")], stack=False, plugin_name="ngffstore")


RECORD_NAPARI_IMPORTS = """
import sys
tried = []
class Recorder:
    def find_spec(self, name, path=None, target=None):
        if name == "napari" or name.startswith("napari."):
            tried.append(name)
        return None
sys.meta_path.insert(0, Recorder())
from ngffstore.napari import read_layers
for url in sys.argv[1:]:
    assert read_layers(url)
print("napari imports tried:", tried)
"""


def test_reader_never_imports_napari(demo_collection):
    root = str(demo_collection.root)
    out = subprocess.run(
        [sys.executable, "-c", RECORD_NAPARI_IMPORTS, os.path.join(root, IMAGE), os.path.join(root, "plate.ome.zarr")],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "napari imports tried: []"
