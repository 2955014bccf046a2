"""Bounded work (issue 16 item 5): plates fit their layout, mosaics obey the memory cap,
``rois from-labels`` traces fragmented label images exactly and shows progress."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import tifffile

from ngffstore.cli import main
from ngffstore.errors import InputError, MemoryCapError
from ngffstore.plate.names import infer_layout


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- plates fit their layout ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wells", "shape"),
    [
        ([("A", "1")], (2, 3)),
        ([("B", "3")], (2, 3)),
        ([("C", "4")], (3, 4)),
        ([("D", "5")], (4, 6)),
        ([("F", "8")], (6, 8)),
        ([("H", "12")], (8, 12)),
        ([("P", "24")], (16, 24)),
        ([("AF", "48")], (32, 48)),
    ],
)
def test_standard_formats(wells, shape):
    rows, columns = infer_layout(wells)
    assert (len(rows), len(columns)) == shape


@pytest.mark.parametrize("wells", [[("ZZ", "99")], [("A", "49")], [("AG", "1")], [("B", "2"), ("ZZ", "99")]])
def test_wells_beyond_1536_are_an_error(wells):
    with pytest.raises(InputError, match="largest standard plate") as info:
        infer_layout(wells)
    assert "--rows/--columns" in str(info.value)


@pytest.fixture
def field_tif(tmp_path):
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, np.arange(64, dtype=np.uint16).reshape(8, 8))
    return path


def test_typo_well_makes_no_702x99_plate(tmp_path, capsys, field_tif):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"well,field,file\nB03,1,{field_tif}\nZZ99,1,{field_tif}\n")
    code, _, err = run(capsys, "plate", tmp_path / "p.zarr", "--manifest", manifest)
    assert code != 0 and "Traceback" not in err
    assert "ZZ99" in err and "largest standard plate" in err
    assert not (tmp_path / "p.zarr").exists()


def test_explicit_layout_is_used_and_enforced(tmp_path, capsys, field_tif):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"well,field,file\nB03,1,{field_tif}\nAH50,1,{field_tif}\n")
    code, _, err = run(capsys, "plate", tmp_path / "p.zarr", "--manifest", manifest, "--rows", "A-AH",
                       "--columns", "50")
    assert code == 0, err
    from ngffstore.plate import open_plate

    with open_plate(tmp_path / "p.zarr") as plate:
        assert (len(plate.rows), len(plate.columns)) == (34, 50)
    code, _, err = run(capsys, "plate", tmp_path / "q.zarr", "--manifest", manifest, "--rows", "8", "--columns", "12")
    assert code != 0 and "AH50" in err


def test_mosaic_obeys_the_memory_cap(tmp_path, capsys, field_tif):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"well,field,file\nB03,1,{field_tif}\nC04,1,{field_tif}\n")
    assert run(capsys, "plate", tmp_path / "p.zarr", "--manifest", manifest)[0] == 0
    from ngffstore.plate import open_plate

    with open_plate(tmp_path / "p.zarr", memory_cap=200) as plate, pytest.raises(MemoryCapError, match="memory cap"):
        plate.grid(8)
    code, _, err = run(capsys, "plate-thumbnail", tmp_path / "p.zarr", "-o", tmp_path / "t.npy",
                       "--memory-cap", "1KiB")
    assert code != 0 and "memory cap" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "plate-thumbnail", tmp_path / "p.zarr", "-o", tmp_path / "t.npy")
    assert code == 0, err


# -- from_labels ---------------------------------------------------------------------------------


def _reference(labels: np.ndarray, value: int) -> shapely.Geometry:
    rows, cols = np.nonzero(labels == value)
    return shapely.union_all(shapely.box(cols, rows, cols + 1, rows + 1))


@pytest.fixture
def noise_image(tmp_path):
    from ngffstore import write_image
    from ngffstore.labels import write_labels

    labels = np.random.default_rng(3).integers(0, 10, (96, 80)).astype(np.uint8)
    url = str(tmp_path / "img.zarr")
    write_image(np.zeros(labels.shape, np.uint8), url, axes="yx", progress=False)
    write_labels(labels, url, name="noise", axes="yx", progress=False, chunks=(32, 32))
    return url, labels


def test_from_labels_is_exact_on_noise(noise_image, monkeypatch):
    import ngffstore.rois._labels as mod
    from ngffstore.rois import from_labels, query

    url, labels = noise_image
    monkeypatch.setattr(mod, "FROM_LABELS_BLOCK_PIXELS", 32 * 32)  # many blocks: pieces are merged
    from_labels(url, label="noise", layer="traced", progress=False)
    rois = query(url, layer="traced")
    assert sorted(rois["id"]) == list(range(1, 10))
    for roi_id, geom in zip(rois["id"], rois["geometry"]):
        assert shapely.is_valid(geom)
        ref = _reference(labels, int(roi_id))
        assert geom.area == ref.area == np.count_nonzero(labels == roi_id)
        assert geom.symmetric_difference(ref).area == 0


def test_from_labels_shows_progress(noise_image, capsys):
    from ngffstore.rois import from_labels

    url, _ = noise_image
    from_labels(url, label="noise", layer="traced", progress=True)
    assert "tracing noise" in capsys.readouterr().err


def test_pinched_regions_and_holes():
    from ngffstore.rois._labels import _block_polygons

    block = np.array(
        [
            [1, 1, 1, 1, 0],
            [1, 2, 2, 1, 0],
            [1, 2, 1, 1, 0],
            [1, 1, 0, 1, 1],
            [0, 0, 1, 0, 1],  # 1s touching only at corners
        ],
        dtype=np.uint8,
    )
    out = _block_polygons(block, 10, 20)
    for value in (1, 2):
        geom = out[value]
        assert shapely.is_valid(geom)
        rows, cols = np.nonzero(block == value)
        ref = shapely.union_all(shapely.box(cols + 20, rows + 10, cols + 21, rows + 11))
        assert geom.symmetric_difference(ref).area == 0
