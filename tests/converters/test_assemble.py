"""`ngffstore assemble`: folders of 2-D planes -> 5-D images, acquisition metadata, bad input."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil

import imagecodecs
import numpy as np
import pandas as pd
import pytest
import zarr

from converters import acquisition
from converters.acquisition import Acquisition, load_parser, parse_acquisition_text
from converters.assemble import assemble
from converters.planes import NamePattern, open_plane_folder
from ngffstore.cli import main
from ngffstore.demo.sample_folders import write_plane_folder
from ngffstore.errors import InputError, OutputExistsError
from ngffstore.metadata import read_metadata, read_table
from ngffstore.storage import Location
from ngffstore.validation import validate


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def folder(tmp_path):
    """2 positions x 2 channels x 3 z x 4 t of 64x64 uint16 PNG, plus acquisition.txt and a log."""
    return write_plane_folder(tmp_path / "run", positions=2, channels=("DAPI", "GFP"), timepoints=4, z=3)


def load_json(path):
    with open(path) as f:
        return json.load(f)


def level0(url, path, storage_options=None):
    store = Location.parse(url, storage_options).zarr_store(read_only=True)
    return zarr.open_array(store, path=f"{path}/0", mode="r")[...]


def custom_parser(path):
    """A facility's parser: 'SETTING=value' lines (used by the tests below)."""
    if not path.endswith(".txt"):
        return None
    pairs = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                key, value = line.strip().split("=", 1)
                pairs[key] = value
    table = pd.DataFrame({"setting": list(pairs), "value": list(pairs.values())})
    return {"key_values": pairs, "tables": {"settings": table}, "scale": {"x": 0.5, "y": 0.5}}


# -- round trip ---------------------------------------------------------------------------------


def test_assemble_round_trip(folder, store_url):
    url, options = store_url
    # chunks of 2 timepoints x 2 channels x 3 planes: few objects on S3
    result = assemble(folder.root, url, storage_options=options, min_size=32, chunks="t=2,c=2,z=3")
    assert result.kind == "collection" and list(result.positions) == ["pos001", "pos002"]
    assert result.planes == 2 * 2 * 3 * 4 and not any(result.filled.values())
    for i, position in enumerate(folder.positions):
        np.testing.assert_array_equal(level0(url, position, options), folder.stack(i))
    report = validate(url, storage_options=options)
    assert report.ok, report.problems

    image = Location.parse(url, options).child("pos001")
    attrs = json.loads(image.read_bytes("zarr.json"))["attributes"]
    multiscale = attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in multiscale["axes"]] == list("tczyx")
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == [300, 1, 2.0, 0.325, 0.325]
    assert [a.get("unit") for a in multiscale["axes"]] == ["second", None, "micrometer", "micrometer", "micrometer"]
    assert [c["label"] for c in attrs["ome"]["omero"]["channels"]] == ["DAPI", "GFP"]

    meta = read_metadata(image)
    assert meta.key_values["Microscope"] == "Nikon Ti2-E"
    assert meta.key_values["Binning"] == 1 and meta.key_values["Autofocus"] is True
    assert meta.key_values["assemble.position"] == "pos001"
    assert meta.key_values["assemble.pattern"] == "{name}_{t}_{c}_{z}"
    assert meta.key_values["assemble.filled_planes"] == 0
    assert set(meta.tables) == {"Channels", "Positions", "planes"}
    channels = read_table(image, "Channels")
    assert list(channels["Channel"]) == ["DAPI", "GFP"] and list(channels["Exposure (ms)"]) == [50, 100]
    planes = read_table(image, "planes")
    assert len(planes) == 24 and planes["file"].iloc[0] == "pos001/exp_0_DAPI_0.png"

    root = Location.parse(url, options)
    root_attrs = json.loads(root.read_bytes("zarr.json"))["attributes"]
    assert root_attrs["ome"]["bioformats2raw.layout"] == 3
    assert json.loads(root.read_bytes("OME/zarr.json"))["attributes"]["ome"]["series"] == ["pos001", "pos002"]
    block = root_attrs["ngffstore"]
    assert block["metadata"]["key_values"]["Objective"].startswith("Plan Apo")
    assert set(block["metadata"]["tables"]) == {"Channels", "Positions"}
    assert {a["name"] for a in block["attachments"]} == {"acquisition.txt", "experiment.log"}
    with open(os.path.join(folder.root, "experiment.log"), "rb") as f:
        assert root.read_bytes("attachments/experiment.log") == f.read()
    record = next(r for r in block["provenance"] if r["operation"] == "assemble")
    assert record["parameters"]["pattern"] == "{name}_{t}_{c}_{z}"
    # the collection's tables are attached with metadata.attach_table: listed in tables/ too
    assert set(json.loads(root.read_bytes("tables/zarr.json"))["attributes"]["ngffstore"]["tables"]) == {
        "Channels", "Positions"}


def test_cli_numeric_sort_and_summary(tmp_path, capsys):
    sample = write_plane_folder(tmp_path / "run", positions=1, channels=("GFP",), timepoints=(1, 2, 10), z=1)
    out = tmp_path / "out.zarr"
    code, stdout, err = run(capsys, "assemble", sample.root, out, "--ngff-version", "0.4", "--no-progress")
    assert code == 0, err
    assert "pos001" in stdout and "3x1x1x64x64" in stdout
    data = zarr.open_array(str(out / "pos001" / "0"), mode="r")[...]
    for i, t in enumerate((1, 2, 10)):  # 2 before 10
        np.testing.assert_array_equal(data[i, 0, 0], sample.plane(0, t, 0, 0))
    assert validate(out).ok
    assert load_json(out / ".zattrs")["bioformats2raw.layout"] == 3


def test_default_chunks_hold_the_z_stack_and_lz4(folder, tmp_path, capsys, monkeypatch):
    import converters.assemble as assemble_module

    out = tmp_path / "defaults.zarr"
    code, _, err = run(capsys, "assemble", folder.root, out, "--no-progress")
    assert code == 0, err
    meta = load_json(out / "pos001" / "0" / "zarr.json")
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [1, 1, 3, 64, 64]
    assert [c["name"] for c in meta["codecs"]] == ["bytes", "blosc"]
    assert meta["codecs"][1]["configuration"]["cname"] == "lz4"
    # the z-stack is split when its planes exceed the chunk budget; given options win
    monkeypatch.setattr(assemble_module, "Z_CHUNK_BYTES", 2 * 64 * 64 * 2)
    result = assemble(folder.root, str(tmp_path / "split.zarr"), progress=False)
    assert result.images["pos001"].levels[0].chunks == (1, 1, 2, 64, 64)
    result = assemble(folder.root, str(tmp_path / "given.zarr"), progress=False, chunks="z=1", compression="zstd")
    assert result.images["pos001"].levels[0].chunks == (1, 1, 1, 64, 64)
    meta = load_json(tmp_path / "given.zarr" / "pos001" / "0" / "zarr.json")
    assert [c["name"] for c in meta["codecs"]] == ["bytes", "zstd"]


def test_planes_are_read_lazily(folder):
    opened = open_plane_folder(folder.root)
    source = opened.sources[0]
    assert source.data.shape == (4, 2, 3, 64, 64) and source.data.chunksize == (1, 1, 3, 64, 64)
    assert source.channel_names == ["DAPI", "GFP"] and opened.times == [0, 1, 2, 3]
    assert len(source.data.__dask_graph__()) == 4 * 2  # one task per timepoint and channel
    np.testing.assert_array_equal(source.data[2, 1, 0].compute(), folder.plane(0, 2, 1, 0))
    single = open_plane_folder(folder.root, planes_per_task=1).sources[1]
    assert single.data.chunksize == (1, 1, 1, 64, 64) and len(single.data.__dask_graph__()) == 24
    np.testing.assert_array_equal(single.data.compute(), folder.stack(1))
    two = open_plane_folder(folder.root, planes_per_task=2).sources[1]
    assert two.data.chunks[2] == (2, 1)
    np.testing.assert_array_equal(two.data.compute(), folder.stack(1))
    # task_bytes: whole z-stacks of every channel, then timepoints, as the pyramid's blocks grow
    plane = 64 * 64 * 2
    blocks = open_plane_folder(folder.root, task_bytes=3 * 2 * 3 * plane).sources[1]
    assert blocks.data.chunks[:3] == ((3, 1), (2,), (3,)) and len(blocks.data.__dask_graph__()) == 2
    np.testing.assert_array_equal(blocks.data.compute(), folder.stack(1))
    part = open_plane_folder(folder.root, task_bytes=4 * plane).sources[1]  # one channel's z-stack
    assert part.data.chunks[:3] == ((1,) * 4, (1, 1), (3,))


def test_patterns():
    p = NamePattern.parse("{name}_{t}_{c}_{z}")
    assert p.match("exp_2024_01_5_GFP_3.png", "exp_2024_01_5_GFP_3") == {
        "name": "exp_2024_01", "t": "5", "c": "GFP", "z": "3"
    }
    assert p.match("exp_5_GFP.png", "exp_5_GFP") is None
    r = NamePattern.parse(r"(?P<c>[A-Za-z]+)-t(?P<t>\d+)-z(?P<z>\d+)")
    assert r.is_regex and r.match("GFP-t3-z1.tif", "GFP-t3-z1") == {"c": "GFP", "t": "3", "z": "1"}
    for bad in ("no fields", "{t}_{t}", "{t:03d}", "(?P<t>[)"):
        with pytest.raises(InputError):
            NamePattern.parse(bad)


def test_regex_pattern_and_single_folder(tmp_path, capsys):
    sample = write_plane_folder(tmp_path / "run", positions=1, channels=("DAPI", "GFP"), timepoints=2, z=2)
    flat = tmp_path / "flat"
    shutil.copytree(os.path.join(sample.root, "pos001"), flat)
    out = tmp_path / "out"
    code, _, err = run(capsys, "assemble", flat, out, "--positions", ".", "--channels", "GFP,DAPI",
                       "--pattern", r"(?P<name>[a-z]+)_(?P<t>\d+)_(?P<c>[A-Z]+)_(?P<z>\d+)")
    assert code == 0, err
    data = zarr.open_array(str(out / "flat" / "0"), mode="r")[...]
    np.testing.assert_array_equal(data[1, 0, 1], sample.plane(0, 1, 1, 1))  # GFP first
    np.testing.assert_array_equal(data[1, 1, 1], sample.plane(0, 1, 0, 1))


# -- missing and bad planes -----------------------------------------------------------------------


def test_missing_plane_fails_then_fills(tmp_path, capsys):
    sample = write_plane_folder(tmp_path / "run", skip=[(1, 2, 1, 0)])
    out = tmp_path / "out.zarr"
    code, _, err = run(capsys, "assemble", sample.root, out)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "pos002: t=2 c=GFP z=0" in err and "--fill-missing" in err
    assert not out.exists()

    code, _, err = run(capsys, "assemble", sample.root, out, "--fill-missing", "--min-size", "32")
    assert code == 0, err
    data = zarr.open_array(str(out / "pos002" / "0"), mode="r")[...]
    np.testing.assert_array_equal(data, sample.stack(1))
    assert not data[2, 1, 0].any() and data[2, 1, 1].any()
    meta = read_metadata(str(out / "pos002"))
    assert meta.key_values["assemble.filled_planes"] == 1
    planes = read_table(str(out / "pos002"), "planes")
    filled = planes[planes["filled"]]
    assert list(zip(filled["t"], filled["c"], filled["z"])) == [(2, "GFP", 0)]
    assert filled["file"].isna().all()
    records = load_json(out / "zarr.json")["attributes"]["ngffstore"]["provenance"]
    # the assemble record, then one per table attached to the collection
    assert [r["operation"] for r in records] == ["assemble", "attach_table", "attach_table"]
    record = records[0]
    assert record["parameters"]["filled_planes"] == {"pos002": ["t=2 c=GFP z=0"]}
    assert validate(out).ok


def test_missing_timepoint_inside_the_sequence(tmp_path):
    sample = write_plane_folder(tmp_path / "run", positions=1, channels=("GFP",), timepoints=(0, 1, 3, 4), z=1)
    with pytest.raises(InputError, match=r"t=2 c=GFP z=0"):
        open_plane_folder(sample.root)
    opened = open_plane_folder(sample.root, fill_missing=True)
    assert opened.times == [0, 1, 2, 3, 4] and opened.sources[0].filled == [(2, "GFP", 0)]


def test_inconsistent_shape_and_dtype(folder, tmp_path, capsys):
    odd = os.path.join(folder.root, "pos002", "exp_1_GFP_2.png")
    with open(odd, "wb") as f:
        f.write(imagecodecs.png_encode(np.zeros((32, 64), np.uint16)))
    out = tmp_path / "out.zarr"
    code, _, err = run(capsys, "assemble", folder.root, out)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "pos002/exp_1_GFP_2.png is 32x64 uint16" in err and "23 are 64x64 uint16" in err
    assert not out.exists()
    with open(odd, "wb") as f:
        f.write(imagecodecs.png_encode(np.zeros((64, 64), np.uint8)))
    with pytest.raises(InputError, match="64x64 uint8"):
        open_plane_folder(folder.root)
    with open(odd, "wb") as f:
        f.write(imagecodecs.png_encode(np.zeros((64, 64, 3), np.uint8)))
    with pytest.raises(InputError, match="RGB PNG"):
        open_plane_folder(folder.root)


def test_unmatched_names_are_listed_with_the_pattern(folder, tmp_path, capsys):
    for name in ("notes.png", "exp_1_GFP.png"):
        shutil.copy(folder.path(0, 0, 0, 0), os.path.join(folder.root, "pos001", name))
    code, _, err = run(capsys, "assemble", folder.root, tmp_path / "out")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "2 plane file name(s)" in err and "'{name}_{t}_{c}_{z}'" in err
    assert "pos001/exp_1_GFP.png" in err and "pos001/notes.png" in err


def test_duplicate_planes(folder, tmp_path, capsys):
    shutil.copy(folder.path(0, 1, 0, 2), os.path.join(folder.root, "pos001", "exp_01_DAPI_2.png"))
    code, _, err = run(capsys, "assemble", folder.root, tmp_path / "out")
    assert code == 1
    assert "duplicate" in err and "exp_01_DAPI_2.png" in err and "exp_1_DAPI_2.png" in err


def test_truncated_plane_and_no_positions(folder, tmp_path):
    path = folder.path(1, 3, 1, 1)
    with open(path, "r+b") as f:
        f.truncate(10)
    with pytest.raises(InputError, match="exp_3_GFP_1.png"):
        open_plane_folder(folder.root)
    with pytest.raises(InputError, match="no position folders match 'Pos{p}'"):
        open_plane_folder(folder.root, positions="Pos{p}")
    with pytest.raises(InputError, match="no such folder"):
        open_plane_folder(tmp_path / "nowhere")


def test_bad_write_options_fail_before_writing(folder, tmp_path, capsys):
    for options, message in (
        (["--compression", "lzma"], "unknown compression 'lzma'"),
        (["--chunks", "0"], "must be a positive integer"),
        (["--shards", "4096", "--ngff-version", "0.4"], "shards need Zarr v3"),
        (["--method", "median"], "unknown downsampling method"),
    ):
        code, _, err = run(capsys, "assemble", folder.root, tmp_path / "out", *options)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()


def test_existing_output_needs_overwrite_and_resume(folder, tmp_path, monkeypatch):
    out = str(tmp_path / "out.zarr")
    assemble(folder.root, out, min_size=32)
    with pytest.raises(OutputExistsError):
        assemble(folder.root, out, min_size=32)

    # interrupted during the second position: a rerun keeps the first and completes the rest
    import ngffstore.image as image_module

    real = image_module.write_image
    calls = []

    def failing(source, url, **kw):
        calls.append(source.position)
        if source.position == "pos002":
            raise KeyboardInterrupt
        return real(source, url, **kw)

    monkeypatch.setattr(image_module, "write_image", failing)
    with pytest.raises(KeyboardInterrupt):
        assemble(folder.root, out, min_size=32, overwrite=True)
    assert not validate(out).ok  # the container is not complete
    monkeypatch.setattr(image_module, "write_image", real)
    result = assemble(folder.root, out, min_size=32)
    assert result.resumed == ["pos001"]
    assert validate(out).ok
    np.testing.assert_array_equal(level0(out, "pos002"), folder.stack(1))


# -- plates ---------------------------------------------------------------------------------------


def test_as_plate(folder, tmp_path, capsys):
    wells = tmp_path / "wells.csv"
    wells.write_text("position,well\npos001,B03\npos002,B03\n")
    out = tmp_path / "plate.zarr"
    code, _, err = run(capsys, "assemble", folder.root, out, "--as-plate", "--wells", wells,
                            "--plate-name", "screen 1", "--min-size", "32")
    assert code == 0, err
    report = validate(out)
    assert report.ok, report.problems
    plate = load_json(out / "zarr.json")["attributes"]["ome"]["plate"]
    assert plate["name"] == "screen 1" and plate["wells"] == [{"path": "B/3", "rowIndex": 1, "columnIndex": 2}]
    assert len(plate["rows"]) == 2 and len(plate["columns"]) == 3 and plate["field_count"] == 2
    np.testing.assert_array_equal(zarr.open_array(str(out / "B" / "3" / "1" / "0"))[...], folder.stack(1))
    assert read_metadata(str(out / "B" / "3" / "0")).key_values["assemble.well"] == "B03"
    assert read_metadata(str(out)).key_values["Microscope"] == "Nikon Ti2-E"

    wells.write_text("position,well\npos001,B03\npos009,C01\n")
    code, _, err = run(capsys, "assemble", folder.root, tmp_path / "p2", "--as-plate", "--wells", wells)
    assert code == 1 and "pos009" in err and "pos002" in err


# -- acquisition files ----------------------------------------------------------------------------

ACQUISITION = """\
# settings
Experiment: run 42
Date: 2024-03-05 09:30:00
Pixel size: 0.65 µm
Time interval (min): 5
Channel: DAPI
Channel: GFP
Start time: 12:30:00

[Camera]
Exposure (ms): 50
Gain: 1.5

Stage positions:
Position\tX (um)\tY (um)
pos001\t1.5\t-2
pos002\t3\t
2024-03-05 09:31:02 acquired: pos001
"""


def test_default_parser():
    acq = parse_acquisition_text(ACQUISITION)
    kv = acq.key_values
    assert kv["Experiment"] == "run 42" and kv["Date"] == "2024-03-05 09:30:00"
    assert kv["Start time"] == "12:30:00" and kv["Channel"] == "DAPI; GFP"
    assert kv["Camera.Exposure (ms)"] == 50 and kv["Camera.Gain"] == 1.5
    assert not any(k.startswith("2024") for k in kv)
    assert acq.scale == {"y": 0.65, "x": 0.65, "t": 5.0}
    assert acq.units == {"y": "micrometer", "x": "micrometer", "t": "minute"}
    table = acq.tables["Stage_positions"]
    assert list(table.columns) == ["Position", "X (um)", "Y (um)"]
    assert table["X (um)"].tolist() == [1.5, 3.0] and np.isnan(table["Y (um)"].iloc[1])


def test_custom_parser_callable_module_file_and_entry_point(folder, tmp_path, capsys, monkeypatch):
    with open(os.path.join(folder.root, "settings.txt"), "w") as f:
        f.write("LASER=488\nOBJECTIVE=40x\n")
    # a callable (Python API)
    result = assemble(folder.root, str(tmp_path / "a"), parser=custom_parser, acquisition=["settings.txt"])
    image = os.path.join(result.url, "pos001")
    meta = read_metadata(image)
    assert meta.key_values["LASER"] == "488" and "Microscope" not in meta.key_values
    assert set(meta.tables) == {"settings", "planes"}
    scale = load_json(os.path.join(image, "zarr.json"))["attributes"]["ome"]["multiscales"][0]["datasets"][0]
    assert scale["coordinateTransformations"][0]["scale"][-2:] == [0.5, 0.5]

    # a file path on the command line, and --pixel-size overriding the parser's
    module = tmp_path / "lab_parsers.py"
    module.write_text("def parse(path):\n    return {'key_values': {'source': path.rsplit('/', 1)[-1]}}\n")
    code, _, err = run(capsys, "assemble", folder.root, tmp_path / "b", "--parser", f"{module}:parse",
                       "--pixel-size", "0.2")
    assert code == 0, err
    assert read_metadata(str(tmp_path / "b" / "pos002")).key_values["source"] == "settings.txt"

    # an entry point of the group ngffstore.acquisition_parsers
    ep = importlib.metadata.EntryPoint(
        name="lab", value="test_assemble:custom_parser", group=acquisition.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(acquisition.importlib.metadata, "entry_points",
                        lambda group=None: [ep] if group == acquisition.ENTRY_POINT_GROUP else [])
    assert load_parser("lab") is custom_parser
    assert "lab" in acquisition.available_parsers()

    # bad parsers: one line, non-zero exit, nothing written
    for spec, message in (("nosuchmodule:parse", "no module named 'nosuchmodule'"),
                          (f"{module}:missing", "has no attribute 'missing'"),
                          ("unknown-name", "no acquisition parser named 'unknown-name'")):
        code, _, err = run(capsys, "assemble", folder.root, tmp_path / "c", "--parser", spec)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "c").exists()


def test_position_acquisition_files_override(folder, tmp_path):
    with open(os.path.join(folder.root, "pos002", "position.txt"), "w") as f:
        f.write("Microscope: Nikon Ti2-E (2nd port)\nStage X (um): 12.5\n\nDrift:\nt\tdx\n0\t0.1\n1\t0.3\n")
    with open(os.path.join(folder.root, "pos001", "notes.md"), "w") as f:
        f.write("not parsed\n")
    out = str(tmp_path / "out")
    assemble(folder.root, out)
    first, second = read_metadata(os.path.join(out, "pos001")), read_metadata(os.path.join(out, "pos002"))
    assert first.key_values["Microscope"] == "Nikon Ti2-E" and "Stage X (um)" not in first.key_values
    assert second.key_values["Microscope"] == "Nikon Ti2-E (2nd port)" and second.key_values["Stage X (um)"] == 12.5
    assert "Drift" in second.tables and "Drift" not in first.tables
    assert read_table(os.path.join(out, "pos002"), "Drift")["dx"].tolist() == [0.1, 0.3]
    assert "Stage X (um)" not in read_metadata(out).key_values  # the collection keeps the shared ones


def test_parser_failures_are_input_errors(folder):
    def broken(path):
        raise RuntimeError("boom")

    with pytest.raises(InputError, match="failed on .*acquisition.txt: boom"):
        assemble(folder.root, "/nonexistent/never", parser=broken)

    def bad_value(path):
        return Acquisition(key_values={"k": [1, 2]})

    with pytest.raises(InputError, match="key-value 'k'"):
        assemble(folder.root, "/nonexistent/never", parser=bad_value)


def test_library_import_leaves_the_command_line_alone():
    """Importing the library function does not import ngffstore.cli (whose import hides xarray and
    scipy from dask.array): a library user gets dask as it comes."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from converters.assemble import assemble\n"
        "from ngffstore.plugins import converters\n"
        "assert converters().assemble is assemble\n"
        "assert 'ngffstore.cli' not in sys.modules, 'the CLI was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
