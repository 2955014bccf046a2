"""The demo collection: valid image and plate, labels, ROIs with terms, metadata and the index."""

from __future__ import annotations

import pytest

from ngffstore.demo import build_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("democollection") / "demo"
    return build_demo(str(root), size=256, scheduler="threads", progress=False)


def test_demo_validates(demo):
    from ngffstore.validation import validate

    for url in (demo.image, demo.plate):
        report = validate(url)
        assert report.ok, report.summary()


def test_demo_contents(demo):
    from ngffstore.image import open_image
    from ngffstore.plate import open_plate
    from ngffstore.rois import read_rois_attrs

    image = open_image(demo.image)
    assert "nuclei" in image.labels and demo.nuclei > 0
    assert image.metadata  # key-values/tags
    assert image.provenance
    layers = read_rois_attrs(demo.image).layers
    assert layers["annotations"].kind == "user" and set(layers["annotations"].terms) == {"nucleus", "mitosis", "artifact"}
    assert layers["nuclei"].kind == "algorithm" and layers["nuclei"].count == demo.nuclei
    plate = open_plate(demo.plate)
    assert len(plate) == 6 and demo.fields == 12
    for ref in plate:
        for field in plate.well(ref.row, ref.column).fields:
            assert "nuclei" in field.labels
    assert "demo" in demo.to_text() and any("examples/tiled_segmentation.py" in c for c in demo.commands())


def test_demo_index_and_search(demo):
    from ngffstore.index.search import search

    rows = search(demo.root)
    paths = set(rows["path"])
    assert "cells.ome.zarr" in paths
    assert sum(p.startswith("plate.ome.zarr/") for p in paths) == 12
    assert demo.index_rows == 13
    assert len(search(demo.root, 'experiment == "demo"')) >= 1
    hits = search(demo.root, "dose_uM >= 10")
    assert len(hits) == 4 and all("/3/" in p for p in hits["path"])


def test_demo_existing_needs_overwrite(demo):
    from ngffstore.errors import OutputExistsError

    with pytest.raises(OutputExistsError):
        build_demo(demo.root, size=256, progress=False)


def _snapshot(root) -> dict[str, tuple[int, bytes]]:
    """Every file below ``root``: its mtime (ns) and its bytes."""
    from pathlib import Path

    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def test_demo_over_an_existing_collection_refuses_first_and_changes_nothing(demo, capsys):
    from ngffstore.cli import main

    before = _snapshot(demo.root)
    assert "sources/cells.ome.tif" in before
    # another seed and size: a rewrite of sources/ would change its bytes
    code = main(["demo", demo.root, "--size", "128", "--seed", "7", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "already exists; nothing was changed" in err and "--overwrite" in err
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(demo.root) == before


def test_demo_refuses_an_existing_plate_before_writing_the_image(demo, tmp_path, capsys):
    import shutil

    from ngffstore.cli import main

    root = tmp_path / "copy"
    shutil.copytree(demo.root, root)
    shutil.rmtree(root / "cells.ome.zarr")
    shutil.rmtree(root / "sources")
    before = _snapshot(root)
    code = main(["demo", str(root), "--size", "128", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "plate.ome.zarr already exists" in err
    assert _snapshot(root) == before and not (root / "cells.ome.zarr").exists() and not (root / "sources").exists()


def test_demo_bad_destination_or_scheduler_is_one_line_and_writes_nothing(tmp_path, capsys):
    from ngffstore.cli import main

    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    for argv, says, code in (
        ([str(a_file)], "is a file, not a folder", 1),
        ([str(a_file / "below")], "Not a directory", 2),
        ([str(tmp_path / "new"), "--scheduler", "bogus"], "unknown scheduler 'bogus'", 2),
    ):
        assert main(["demo", *argv, "--size", "128", "--no-progress"]) == code
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err
    assert a_file.read_text() == "not a folder" and not (tmp_path / "new").exists()


def test_demo_on_s3_and_an_example_reading_it(s3_bucket, s3_env, tmp_path, capsys):
    import importlib
    import sys
    from pathlib import Path

    import pandas as pd

    from ngffstore.cli import main

    dest = f"s3://{s3_bucket}/demo"
    code = main(["demo", dest, "--size", "128", "--fields", "1", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"ngffstore validate {dest}/plate.ome.zarr" in out and "7 rows" in out
    examples = str(Path(__file__).resolve().parents[2] / "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    heatmap = importlib.import_module("plate_heatmap")
    assert heatmap.main([f"{dest}/plate.ome.zarr", "--scheduler", "threads", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "plate_heatmap.csv")
    assert len(table) == 12 and (table["fields"] == 1).all()
