"""What ``ngffstore convert`` imports: only what the conversion uses.

A command run in a fresh interpreter; the modules it must not load (a cluster client, the
index's Arrow, data-frame and scientific stacks) are looked up in ``sys.modules`` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

HEAVY = ("distributed", "pyarrow", "pandas", "xarray", "scipy")

PROBE = """
import json, sys
from ngffstore.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
"""


def _run(args: list[str], cwd) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def small_tiff(tmp_path):
    path = tmp_path / "small.tif"
    tifffile.imwrite(path, np.arange(512 * 512, dtype=np.uint16).reshape(512, 512))
    return path


def test_convert_loads_no_heavy_module(small_tiff, tmp_path):
    result = _run(["convert", str(small_tiff), str(tmp_path / "out.zarr"), "--no-progress"], tmp_path)
    assert result["code"] == 0
    assert result["loaded"] == []
    assert (tmp_path / "out.zarr" / "zarr.json").exists()


def test_convert_below_an_index_journals_the_change(small_tiff, tmp_path):
    """Below a collection root the index's journal is told (a fragment file; neither the index
    package nor its Arrow is loaded)."""
    from ngffstore.index import JOURNAL, MARKER

    root = tmp_path / "collection"
    (root / MARKER).parent.mkdir(parents=True)
    (root / MARKER).write_text("{}")
    result = _run(["convert", str(small_tiff), str(root / "a.zarr"), "--no-progress"], tmp_path)
    assert result["code"] == 0
    assert result["loaded"] == []
    fragments = list((root / JOURNAL).iterdir())
    assert len(fragments) == 1
    assert json.loads(fragments[0].read_text())["path"] == "a.zarr"


def test_unknown_command_lists_every_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ngffstore", "nosuchcommand"], cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert "convert" in out.stderr and "plate-info" in out.stderr


def test_command_of_a_shared_module_parses(tmp_path):
    """``plate-info`` is registered by the ``plate`` module: the one-module parser finds it."""
    out = subprocess.run([sys.executable, "-m", "ngffstore", "plate-info", "--help"], cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0
    assert "plate-info" in out.stdout


def test_convert_loads_only_the_tiff_reader(small_tiff, tmp_path):
    """The input converters are a plug-in: a TIFF conversion loads the TIFF reader, none other."""
    probe = PROBE % (("converters",),)
    out = subprocess.run(
        [sys.executable, "-c", probe, "convert", str(small_tiff), str(tmp_path / "out.zarr"), "--no-progress"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1])["loaded"])
    assert "converters.api" in loaded and "converters.tiff" in loaded
    others = {"converters.planar", "converters.czi", "converters.arrays", "converters.bioio_source",
              "converters.openslide_source", "converters.planes", "converters.plate", "converters.rois"}
    assert loaded & others == set()


def test_a_small_tiff_is_opened_without_dask_or_zarr(small_tiff, tmp_path):
    """The converters' share of the fixed cost: a small input becomes a numpy-backed Source."""
    code = (
        "import sys, json\n"
        "from ngffstore import plugins\n"
        "api = plugins.converters()\n"
        f"source = api.open_source({str(small_tiff)!r}, load_below=api.SMALL_BYTES)\n"
        "print(json.dumps([type(source.data).__module__, sorted({m.split('.')[0] for m in sys.modules} & "
        "{'dask', 'zarr', 'distributed', 'pyarrow', 'pandas'})]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    module, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert module == "numpy" and heavy == []
