"""``ngffstore labels add|list|info|remove|regions`` on local folders and S3."""

from __future__ import annotations

import json
import shutil

import fsspec
import numpy as np
import pandas as pd
import pytest
import tifffile

import ngffstore
import ngffstore.labels
from ngffstore.cli import main
from ngffstore.labels import label_colors, open_labels


def image(url: str, shape=(2, 64, 48), axes="cyx", **kwargs) -> str:
    rng = np.random.default_rng(0)
    ngffstore.write_image(
        rng.integers(0, 255, size=shape, dtype=np.uint8), url, axes=axes, min_size=20, chunks=32,
        progress=False, scale={"y": 0.5, "x": 0.5}, units={"y": "micrometer", "x": "micrometer"}, **kwargs,
    )
    return url


def cells(shape=(64, 48)) -> np.ndarray:
    out = np.zeros(shape, np.uint16)
    out[2:20, 3:30] = 1
    out[30:60, 10:20] = 2
    out[40:50, 30:46] = 5
    return out


def snapshot(url: str, **options) -> dict[str, bytes]:
    fs, path = fsspec.core.url_to_fs(url, **options)
    fs.invalidate_cache()
    return {p[len(path):]: fs.cat_file(p) for p in fs.find(path)}


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_info_regions_remove(tmp_path, capsys):
    img = image(str(tmp_path / "img.zarr"))
    np.save(tmp_path / "cells.npy", cells())
    (tmp_path / "colors.csv").write_text("1,255,0,0\n2,0,255,0,128\n")
    (tmp_path / "props.csv").write_text("label-value,class,score\n1,tumour,0.9\n2,stroma,\n5,tumour,0.4\n")
    code, out, err = run(
        capsys, "labels", "add", img, str(tmp_path / "cells.npy"), "--name", "cells",
        "--colors", str(tmp_path / "colors.csv"), "--properties", str(tmp_path / "props.csv"), "--no-progress",
    )
    assert code == 0, err
    assert "wrote label image 'cells'" in out and "3 levels" in out
    labels = open_labels(img, "cells")
    assert labels.colors[1] == (255, 0, 0, 255) and labels.colors[2] == (0, 255, 0, 128)
    assert labels.colors[5] == tuple(label_colors([5])[0].tolist())
    assert labels.properties == {1: {"class": "tumour", "score": 0.9}, 2: {"class": "stroma"}, 5: {"class": "tumour", "score": 0.4}}

    code, out, _ = run(capsys, "labels", "list", img)
    assert (code, out) == (0, "cells\n")
    code, out, _ = run(capsys, "labels", "list", img, "--json")
    assert json.loads(out) == ["cells"]

    code, out, _ = run(capsys, "labels", "info", img, "cells")
    assert code == 0
    assert "values    4 (0 to 5)" in out and "colours   4" in out and "columns: class, score" in out
    code, out, _ = run(capsys, "labels", "info", img, "cells", "--json")
    info = json.loads(out)
    assert info["values"] == {"count": 4, "min": 0, "max": 5}
    assert [lv["shape"] for lv in info["levels"]] == [[64, 48], [32, 24], [16, 12]]
    assert info["properties"] == {"labels": 3, "columns": ["class", "score"]}

    code, out, err = run(capsys, "labels", "regions", img, "cells", "-o", str(tmp_path / "r.csv"))
    assert code == 0 and "3 labels measured" in err
    table = pd.read_csv(tmp_path / "r.csv")
    assert table["label"].tolist() == [1, 2, 5]
    assert table["area_px"].tolist() == [18 * 27, 30 * 10, 10 * 16]
    assert table.loc[0, "area"] == pytest.approx(18 * 27 * 0.25)
    code, out, _ = run(capsys, "labels", "regions", img, "cells")
    assert out.splitlines()[0].startswith("label,area_px,area,y_min,y_max,x_min,x_max,centroid_y")

    assert run(capsys, "validate", img)[0] == 0
    code, out, _ = run(capsys, "labels", "remove", img, "cells")
    assert code == 0 and "removed" in out
    assert run(capsys, "labels", "list", img)[1] == ""


def test_add_tiff_hex_colors_and_inferred_axes(tmp_path, capsys):
    img = image(str(tmp_path / "img.zarr"))
    tifffile.imwrite(tmp_path / "cells.tif", cells())
    (tmp_path / "colors.csv").write_text("label-value,color\n1,#FF8000\n5,#00000080\n")
    code, _, err = run(
        capsys, "labels", "add", img, str(tmp_path / "cells.tif"), "--name", "t",
        "--colors", str(tmp_path / "colors.csv"), "--method", "nearest",
    )
    assert code == 0, err
    labels = open_labels(img, "t")
    assert labels.colors[1] == (255, 128, 0, 255) and labels.colors[5] == (0, 0, 0, 128)
    assert labels.multiscale.type == "nearest"
    # a 3-D .npy whose axes cannot be inferred takes the image's axes without c
    zimg = image(str(tmp_path / "z.zarr"), shape=(2, 3, 64, 48), axes="czyx")
    np.save(tmp_path / "vol.npy", np.stack([cells()] * 3))
    code, _, err = run(capsys, "labels", "add", zimg, str(tmp_path / "vol.npy"), "--name", "vol")
    assert code == 0, err
    assert open_labels(zimg, "vol").axes == "zyx"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> str:
    """An image with one label image, ``old`` (copy it before changing it)."""
    img = image(str(tmp_path_factory.mktemp("template") / "img.zarr"))
    ngffstore.labels.write_labels(cells(), img, name="old")
    return img


@pytest.mark.parametrize(
    ("make", "extra", "match"),
    [
        (lambda p: np.save(p, np.zeros((64, 47), np.uint8)), [], r"shape \(y=64, x=47\)"),
        (lambda p: np.save(p, cells().astype(np.float32)), [], "floating point.*--cast"),
        (lambda p: np.save(p, cells() + 0.5), ["--cast"], "fractional"),
        (lambda p: np.save(p, cells()), ["--name", "a/b"], "path separator"),
        (lambda p: np.save(p, cells()), ["--name", ".."], "starts with '.'"),
        (lambda p: np.save(p, cells()), ["--name", "/tmp/abs"], "absolute path"),
        (lambda p: np.save(p, cells()), ["--name", "old"], "already exists.*--overwrite"),
        (lambda p: np.save(p, cells()), ["--colors", "{tmp}/bad.csv"], "not a colour"),
        (lambda p: np.save(p, cells()), ["--colors", "{tmp}/missing.csv"], "no such file"),
        (lambda p: np.save(p, cells()), ["--properties", "{tmp}/noval.csv"], "no 'label-value' column"),
        (lambda p: p.write_bytes(b"\x93NUMPY garbage"), [], ""),
    ],
)
def test_bad_input_one_line_parent_untouched(tmp_path, capsys, template, make, extra, match):
    img = str(tmp_path / "img.zarr")
    shutil.copytree(template, img)
    (tmp_path / "bad.csv").write_text("1,300,0,0\n")
    (tmp_path / "noval.csv").write_text("id,class\n1,a\n")
    make(tmp_path / "in.npy")
    before = snapshot(img)
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    if "--name" not in extra:
        extra += ["--name", "new"]
    code, _, err = run(capsys, "labels", "add", img, str(tmp_path / "in.npy"), *extra)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ngffstore labels: error: "), err
    assert pd.Series(lines[0]).str.contains(match).all(), lines[0]
    assert "Traceback" not in err
    assert snapshot(img) == before


def test_cast_and_overwrite(tmp_path, capsys):
    img = image(str(tmp_path / "img.zarr"))
    np.save(tmp_path / "f.npy", cells().astype(np.float64))
    assert run(capsys, "labels", "add", img, str(tmp_path / "f.npy"), "--name", "f", "--cast")[0] == 0
    assert open_labels(img, "f").dtype == np.uint8
    np.save(tmp_path / "g.npy", cells() * 2)
    assert run(capsys, "labels", "add", img, str(tmp_path / "g.npy"), "--name", "f")[0] == 1
    assert run(capsys, "labels", "add", img, str(tmp_path / "g.npy"), "--name", "f", "--overwrite")[0] == 0
    assert open_labels(img, "f").values().tolist() == [0, 2, 4, 10]


def test_read_errors(tmp_path, capsys):
    img = image(str(tmp_path / "img.zarr"))
    code, _, err = run(capsys, "labels", "info", img, "nope")
    assert code == 1 and "no label image 'nope'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "labels", "remove", img, "nope")
    assert code == 1 and "no label image 'nope'" in err
    code, _, err = run(capsys, "labels", "list", str(tmp_path / "missing.zarr"))
    assert code == 1 and "no Zarr group" in err
    assert run(capsys, "labels")[0] == 2


def test_cli_on_s3(s3_bucket, s3_env, capsys, tmp_path):
    url = f"s3://{s3_bucket}/img.zarr"
    options = {"endpoint_url": s3_env["AWS_ENDPOINT_URL"]}
    image(url, storage_options=options, shards=None)
    np.save(tmp_path / "cells.npy", cells())
    code, _, err = run(capsys, "labels", "add", url, str(tmp_path / "cells.npy"), "--name", "cells")
    assert code == 0, err
    assert run(capsys, "labels", "list", url)[1] == "cells\n"
    code, out, _ = run(capsys, "labels", "regions", url, "cells")
    assert code == 0 and len(out.splitlines()) == 4
    assert run(capsys, "labels", "remove", url, "cells")[0] == 0
    assert run(capsys, "labels", "list", url)[1] == ""


def test_thumbnail_and_window_overlay_labels(tmp_path, capsys):
    """`--labels NAME` draws the label colours on the PNG; a wrong name is one line, exit 1."""
    from PIL import Image as PILImage

    import ngffstore
    from ngffstore.cli import main

    url = str(tmp_path / "img.zarr")
    ngffstore.write_image(np.full((2, 64, 64), 100, dtype=np.uint16), url, axes="cyx", progress=False)
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[10:30, 10:30] = 1
    ngffstore.write_labels(mask, url, name="cells", colors={1: (255, 0, 0, 255)})
    plain, over = tmp_path / "plain.png", tmp_path / "over.png"
    assert main(["thumbnail", url, "-o", str(plain)]) == 0
    assert main(["thumbnail", url, "-o", str(over), "--labels", "cells", "--labels-alpha", "1"]) == 0
    a = np.asarray(PILImage.open(plain))
    b = np.asarray(PILImage.open(over))
    assert (b[20, 20, :3] == (255, 0, 0)).all()
    assert (a[50, 50] == b[50, 50]).all()
    assert main(["window", url, "--x", "0", "--y", "0", "--width", "32", "--height", "32",
                 "-o", str(tmp_path / "w.png"), "--labels", "cells"]) == 0
    capsys.readouterr()
    assert main(["thumbnail", url, "-o", str(tmp_path / "x.png"), "--labels", "nope"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nope" in err
