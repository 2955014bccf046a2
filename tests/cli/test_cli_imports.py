"""What ``ngffstore convert`` imports: only what the conversion uses.

A command run in a fresh interpreter; the modules it must not load (dask and its cluster
client for an image small enough to hold in memory, the index's Arrow, data-frame and
scientific stacks, the progress bar, numpy's masked arrays) are looked up in ``sys.modules``
afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

HEAVY = ("dask", "distributed", "pyarrow", "pandas", "xarray", "scipy", "tqdm", "numpy.ma")

PROBE = """
import json, sys
from ngffstore.cli import main
code = main(sys.argv[1:])
heavy = %r
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.modules
                                                 if any(m == h or m.startswith(h + ".") for h in heavy))}))
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


def test_package_import_loads_no_fsspec_numpy_or_zarr(tmp_path):
    """``import ngffstore`` (storage, errors) is the start of every command: local paths need
    none of fsspec, numpy or zarr, which load with the code that uses them."""
    code = (
        "import sys, json\n"
        "import ngffstore, ngffstore.storage\n"
        "location = ngffstore.storage.Location.parse(sys.argv[1])\n"
        "location.put('doc.json', b'{}')\n"
        "assert location.get('doc.json') == b'{}'\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'fsspec', 'numpy', 'zarr', 'dask'})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "store")], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


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


def test_image_package_import_loads_no_dask(tmp_path):
    """``ngffstore.image`` loads its reader (which imports dask) on first use only."""
    code = (
        "import sys, json\n"
        "import ngffstore.image as image\n"
        "before = 'dask' in sys.modules\n"
        "image.write_image\n"
        "after_write = 'dask' in sys.modules\n"
        "image.open_image, image.read\n"
        "print(json.dumps([before, after_write, 'dask.array' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, False, True]


# the same conversion forced through dask: no input is small enough to be read whole
DASK_PROBE = """
import json, sys
from ngffstore import plugins
plugins.converters().SMALL_BYTES = 0
from ngffstore.cli import main
code = main(sys.argv[1:])
import dask.array
print(json.dumps({"code": code, "dask": "dask.array" in sys.modules,
                  "hidden": sorted(m for m in sys.modules if m.split(".")[0] in %r),
                  "finders": [type(f).__name__ for f in sys.meta_path],
                  "doc": dask.array.ravel.__doc__ == __import__("numpy").ravel.__doc__}))
"""

VOLATILE = ("id", "started", "finished", "command")  # provenance: a new run, its time and its argv


def _files(root):
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.relative_to(root).as_posix() == "zarr.json":
                doc = json.loads(data)
                for record in doc["attributes"]["ngffstore"]["provenance"]:
                    for key in VOLATILE:
                        assert key in record
                        record[key] = None
                data = json.dumps(doc, sort_keys=True).encode()
            out[path.relative_to(root).as_posix()] = data
    return out


@pytest.mark.parametrize("options", [[], ["--chunks", "96"]], ids=["one-block", "blocks"])
def test_small_convert_is_the_dask_conversion(tmp_path, options):
    """The in-memory path (no dask imported) stores the bytes of the dask path, object by object."""
    rng = np.random.default_rng(7)
    image = (rng.gamma(2.0, 300.0, size=(250, 330)) + np.linspace(0, 2000, 330)).astype(np.uint16)
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, image)
    # output paths of one length: the command line is recorded, and so the stored bytes
    small, forced = tmp_path / "a" / "out.zarr", tmp_path / "b" / "out.zarr"
    args = ["convert", str(path), "--no-progress", *options]
    result = _run([*args[:2], str(small), *args[2:]], tmp_path)
    assert result["code"] == 0 and result["loaded"] == []
    # no scheduler asked for: no cluster client (dask.array itself imports numpy.ma)
    unused = tuple(name for name in HEAVY if name not in ("dask", "numpy.ma"))
    out = subprocess.run([sys.executable, "-c", DASK_PROBE % (unused,), *args[:2], str(forced), *args[2:]],
                         cwd=tmp_path, capture_output=True, text=True, check=True)
    dask_run = json.loads(out.stdout.strip().splitlines()[-1])
    # the dask path really ran, with dask.array imported the command line's way, and the
    # command's import hook is gone once it returns
    assert dask_run["code"] == 0 and dask_run["dask"] and dask_run["hidden"] == [] and dask_run["doc"]
    assert "_DaskArrayFinder" not in dask_run["finders"]
    a, b = _files(small), _files(forced)
    assert sorted(a) == sorted(b)
    assert len([k for k in a if "/c/" in k]) >= (2 if options else 1)
    for key in a:
        assert a[key] == b[key], key
    stored = zarr_open(small)
    np.testing.assert_array_equal(stored, image)


def zarr_open(root):
    import zarr

    return zarr.open_array(root / "0", mode="r")[...]


def test_main_leaves_no_import_hook(small_tiff, tmp_path):
    """The command line's way of importing dask.array ends with the command (library users of
    the same process get dask as it comes)."""
    from ngffstore.cli import main

    before = list(sys.meta_path)
    assert main(["convert", str(small_tiff), str(tmp_path / "out.zarr"), "--no-progress"]) == 0
    assert sys.meta_path == before
