"""`ngffstore plate`, `plate-info` and `plate-thumbnail` from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from ngffstore.cli import main
from ngffstore.plate import open_plate
from ngffstore.validation import validate

H, W = 40, 48


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def pixels(seed: int, shape=(H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4000, shape).astype(np.uint16)


@pytest.fixture
def exp(tmp_path):
    folder = tmp_path / "exp"
    folder.mkdir()
    for i, well in enumerate(("B02", "C03", "C04")):
        for s in (1, 2):
            for w in (1, 2):
                tifffile.imwrite(folder / f"{well}_s{s}_w{w}.tif", pixels(i * 100 + s * 10 + w))
    return folder


def test_build_from_pattern_then_info_and_thumbnail(tmp_path, capsys, exp):
    out = tmp_path / "plate.zarr"
    code, stdout, err = run(
        capsys, "plate", out, "--folder", exp, "--pattern", "{well}_s{field}_w{channel}.tif",
        "--min-size", "16", "--channel-names", "DAPI,GFP", "--plate-name", "screen 1", "--no-progress",
    )
    assert code == 0, err
    assert "rows A-C, columns 1-4" in stdout and "3 with images, 6 fields" in stdout
    assert validate(str(out)).ok

    code, stdout, err = run(capsys, "plate-info", out)
    assert code == 0, err
    assert "name      screen 1" in stdout and "channels DAPI, GFP" in stdout
    code, stdout, err = run(capsys, "plate-info", out, "--json", "--wells")
    info = json.loads(stdout)
    assert info["well_fields"] == {"B/2": ["0", "1"], "C/3": ["0", "1"], "C/4": ["0", "1"]}
    assert info["field"]["shape"] == [2, H, W]

    png = tmp_path / "plate.png"
    code, stdout, err = run(capsys, "plate-thumbnail", out, "-o", png, "--max-size", "20", "--gap", "2", "--no-preview")
    assert code == 0, err
    assert "from level 1" in stdout and "3x4 wells of 1x2 fields" in stdout
    mosaic = open_plate(str(out)).grid(max_size=20, gap=2, preview=False)
    code, stdout, err = run(capsys, "plate-thumbnail", out, "-o", png, "--max-size", "20", "--gap", "2",
                            "--no-preview", "--no-labels")
    assert PILImage.open(png).size == (mosaic.shape[-1], mosaic.shape[-2])
    code, stdout, err = run(capsys, "plate-thumbnail", out, "-o", png, "--max-size", "20", "--gap", "2")
    assert code == 0, err
    assert "from the stored preview" in stdout and "3x4 wells of 1x2 fields" in stdout

    npy = tmp_path / "plate.npy"
    code, stdout, err = run(capsys, "plate-thumbnail", out, "-o", npy, "--level", "-1", "-c", "GFP", "--field", "1")
    assert code == 0, err
    expected = open_plate(str(out)).grid(level=-1, c="GFP", fields=[1], gap=2).compute()
    assert np.array_equal(np.load(npy), expected)


def test_build_from_manifest_and_tree(tmp_path, capsys, exp):
    (tmp_path / "m.csv").write_text(
        "well,field,channel,file\n"
        + "".join(f"{w},{s},{c},exp/{w}_s{s}_w{c}.tif\n" for w in ("B02", "C03") for s in (1, 2) for c in (1, 2))
    )
    code, stdout, err = run(capsys, "plate", tmp_path / "m.zarr", "--manifest", tmp_path / "m.csv",
                            "--min-size", "16", "--ngff-version", "0.4", "--rows", "8", "--columns", "12")
    assert code == 0, err
    assert "rows A-H, columns 1-12" in stdout
    assert validate(str(tmp_path / "m.zarr")).ok

    tree = tmp_path / "tree"
    for r, c in (("A", "1"), ("B", "2")):
        (tree / r / c).mkdir(parents=True)
        tifffile.imwrite(tree / r / c / "0.tif", pixels(5))
    code, stdout, err = run(capsys, "plate", tmp_path / "t.zarr", "--tree", tree, "--min-size", "16", "--json",
                            "--pixel-size", "0.65", "--scheduler", "synchronous")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["wells"] == 2 and summary["field_axes"] == "yx"
    field = open_plate(str(tmp_path / "t.zarr")).field("B", 2)
    assert field.scale == {"y": 0.65, "x": 0.65} and field.units == {"y": "micrometer", "x": "micrometer"}


def test_bad_input_is_one_line_and_nothing_is_written(tmp_path, capsys, exp):
    tifffile.imwrite(exp / "B02_s1_thumb.tif", pixels(0))
    out = tmp_path / "plate.zarr"
    code, _stdout, err = run(capsys, "plate", out, "--folder", exp, "--pattern", "{well}_s{field}_w{channel}.tif",
                            "--rows", "A-B")
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("ngffstore plate: error: the plate input has 2 problems")
    assert "image files not matching the pattern" in err and "B02_s1_thumb.tif" in err
    assert "wells outside the plate's rows A-B and columns 1-4: C03, C04" in err
    assert not out.exists()

    code, _, err = run(capsys, "plate", out, "--folder", exp)
    assert code == 1 and "--folder needs --pattern" in err
    code, _, err = run(capsys, "plate", out, "--folder", exp, "--pattern", "{plate}_{well}.tif")
    assert code == 1 and "unknown part {plate}" in err
    assert not out.exists()


def test_thumbnail_of_something_that_is_not_a_plate(tmp_path, capsys):
    import ngffstore

    ngffstore.write_image(pixels(1), str(tmp_path / "img.zarr"), progress=False)
    code, _, err = run(capsys, "plate-thumbnail", tmp_path / "img.zarr", "-o", tmp_path / "x.png")
    assert code == 1 and "is an image, not a plate" in err
    code, _, err = run(capsys, "plate-info", tmp_path / "nothing.zarr")
    assert code == 1 and "no Zarr group" in err
    code, _, err = run(capsys, "plate-thumbnail", tmp_path / "img.zarr", "-o", tmp_path / "x.gif")
    assert code == 1 and "use a .png" in err
