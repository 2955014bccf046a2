"""``ngffstore window`` and ``ngffstore thumbnail``: outputs, the one line they print, errors."""

from __future__ import annotations

import numpy as np
import pytest
import s3fs
import tifffile
from PIL import Image as PILImage

import ngffstore
from ngffstore.cli import main

DATA = np.random.default_rng(5).integers(0, 3000, size=(3, 200, 180), dtype=np.uint16)


@pytest.fixture(scope="module")
def image_url(tmp_path_factory):
    url = str(tmp_path_factory.mktemp("cli") / "img.zarr")
    ngffstore.write_image(
        DATA,
        url,
        axes="cyx",
        chunks=64,
        min_size=40,
        channels=["DAPI", "GFP", "RFP"],
        progress=False,
    )
    return url


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def test_window_png(image_url, tmp_path, capsys):
    out = tmp_path / "w.png"
    code, stdout, err = run(
        capsys, "window", image_url, "--x", 10, "--y", 20, "--width", 100, "--height", 50, "-o", out
    )
    assert code == 0 and err == ""
    assert stdout.count("\n") == 0 and "level 0 of 4" in stdout and "3x50x100 uint16" in stdout
    assert "clipped" not in stdout
    picture = np.asarray(PILImage.open(out))
    assert picture.shape == (50, 100, 3) and picture.dtype == np.uint8 and picture.any()


def test_window_raw_outputs(image_url, tmp_path, capsys):
    tif, npy = tmp_path / "w.tif", tmp_path / "w.npy"
    code, stdout, _ = run(
        capsys,
        "window",
        image_url,
        "--x",
        -5,
        "--y",
        150,
        "--width",
        50,
        "--height",
        100,
        "-o",
        tif,
    )
    assert code == 0 and "clipped to the image" in stdout and "x=0 y=150 w=45 h=50" in stdout
    np.testing.assert_array_equal(tifffile.imread(tif), DATA[:, 150:200, 0:45])
    code, stdout, _ = run(
        capsys,
        "window",
        image_url,
        "--x",
        0,
        "--y",
        0,
        "--width",
        180,
        "--height",
        200,
        "--level",
        1,
        "-c",
        "GFP,0",
        "-o",
        npy,
    )
    assert code == 0 and "level 1 of 4" in stdout
    level1 = ngffstore.image.open_image(image_url).to_dask(1).compute()
    np.testing.assert_array_equal(np.load(npy), level1[[1, 0]])


def test_window_max_size(image_url, tmp_path, capsys):
    out = tmp_path / "m.npy"
    code, stdout, _ = run(
        capsys,
        "window",
        image_url,
        "--x",
        0,
        "--y",
        0,
        "--width",
        180,
        "--height",
        200,
        "--max-size",
        60,
        "-c",
        "2",
        "-o",
        out,
    )
    assert code == 0 and "level 1 of 4" in stdout
    assert np.load(out).shape == (1, 60, 54)


def test_thumbnail(image_url, tmp_path, capsys):
    out = tmp_path / "t.png"
    code, stdout, _ = run(capsys, "thumbnail", image_url, "--max-size", 50, "-o", out)
    assert code == 0 and "level 1 of 4" not in stdout and "level 2 of 4" in stdout
    assert PILImage.open(out).size == (45, 50)
    code, _, _ = run(capsys, "thumbnail", image_url, "-o", tmp_path / "default.png")
    assert (
        code == 0 and max(PILImage.open(tmp_path / "default.png").size) == 200
    )  # smaller than 256


def test_png_uses_channel_colours(tmp_path, capsys):
    data = np.zeros((2, 10, 10), dtype=np.uint8)
    data[0, :, :5] = 200  # channel 0 (red) on the left
    data[1, :, 5:] = 200  # channel 1 (green) on the right
    url = str(tmp_path / "rg.zarr")
    ngffstore.write_image(
        data,
        url,
        axes="cyx",
        channels=[{"label": "r", "color": "FF0000"}, {"label": "g", "color": "00FF00"}],
        progress=False,
    )
    out = tmp_path / "rg.png"
    assert run(capsys, "thumbnail", url, "-o", out)[0] == 0
    rgb = np.asarray(PILImage.open(out)).astype(int)
    assert rgb[5, 1, 0] > 200 and rgb[5, 1, 1] == 0 and rgb[5, 1, 2] == 0
    assert rgb[5, 8, 1] > 200 and rgb[5, 8, 0] == 0


def test_zstack_png_uses_middle_plane(tmp_path, capsys):
    data = np.zeros((5, 16, 16), dtype=np.uint16)
    data[2] = 1000
    url = str(tmp_path / "z.zarr")
    ngffstore.write_image(data, url, axes="zyx", progress=False)
    out = tmp_path / "z.png"
    assert (
        run(capsys, "window", url, "--x", 0, "--y", 0, "--width", 16, "--height", 16, "-o", out)[0]
        == 0
    )
    assert np.asarray(PILImage.open(out)).min() > 0  # the bright middle plane
    assert (
        run(
            capsys,
            "window",
            url,
            "--x",
            0,
            "--y",
            0,
            "--width",
            16,
            "--height",
            16,
            "-o",
            tmp_path / "z.npy",
        )[0]
        == 0
    )
    assert np.load(tmp_path / "z.npy").shape == (5, 16, 16)  # raw outputs keep every plane


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "window",
                "{missing}",
                "--x",
                "0",
                "--y",
                "0",
                "--width",
                "5",
                "--height",
                "5",
                "-o",
                "{out}.png",
            ],
            "no Zarr group",
        ),
        (
            [
                "window",
                "{url}",
                "--x",
                "500",
                "--y",
                "0",
                "--width",
                "5",
                "--height",
                "5",
                "-o",
                "{out}.png",
            ],
            "outside the image",
        ),
        (
            [
                "window",
                "{url}",
                "--x",
                "0",
                "--y",
                "0",
                "--width",
                "5",
                "--height",
                "5",
                "--level",
                "9",
                "-o",
                "{out}.png",
            ],
            "level 9 does not exist",
        ),
        (
            [
                "window",
                "{url}",
                "--x",
                "0",
                "--y",
                "0",
                "--width",
                "180",
                "--height",
                "200",
                "--memory-cap",
                "10KiB",
                "-o",
                "{out}.npy",
            ],
            "memory cap",
        ),
        (["thumbnail", "{url}", "-c", "YFP", "-o", "{out}.png"], "no channel 'YFP'"),
        (["thumbnail", "{url}", "-o", "{out}.jpg"], "use a .png, .tif or .npy"),
        (["thumbnail", "{notngff}", "-o", "{out}.png"], "not an OME-NGFF image"),
    ],
    ids=["unknown-url", "outside", "missing-level", "memory-cap", "channel", "format", "not-ngff"],
)
def test_errors_are_one_line(image_url, tmp_path, capsys, argv, message):
    import zarr

    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    values = {
        "url": image_url,
        "missing": tmp_path / "nope.zarr",
        "out": tmp_path / "o",
        "notngff": tmp_path / "plain.zarr",
    }
    code, stdout, err = run(capsys, *[a.format(**values) for a in argv])
    assert code == 1 and stdout == ""
    assert (
        err.count("\n") == 0 and message in err and err.startswith(f"ngffstore {argv[0]}: error:")
    )


def test_corrupt_chunk(tmp_path, capsys):
    url = tmp_path / "c.zarr"
    ngffstore.write_image(DATA, str(url), axes="cyx", chunks=64, levels=1, progress=False)
    (url / "0" / "c" / "2" / "0" / "0").write_bytes(b"not a chunk")
    code, _, err = run(
        capsys,
        "window",
        url,
        "--x",
        0,
        "--y",
        0,
        "--width",
        10,
        "--height",
        10,
        "-o",
        tmp_path / "c.png",
    )
    assert code == 1 and "chunk 0/c/2/0/0" in err and err.count("\n") == 0


def test_level_and_max_size_are_exclusive(image_url, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(
            [
                "window",
                image_url,
                "--x",
                "0",
                "--y",
                "0",
                "--width",
                "5",
                "--height",
                "5",
                "--level",
                "1",
                "--max-size",
                "5",
                "-o",
                str(tmp_path / "x.png"),
            ]
        )
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# -- S3 -----------------------------------------------------------------------------------------
SMALL = DATA[:, :128, :128]


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    """A small local image (levels 128, 64, 32) and its files, to upload."""
    local = tmp_path_factory.mktemp("cli-s3") / "small.zarr"
    ngffstore.write_image(SMALL, str(local), axes="cyx", chunks=64, min_size=32, progress=False)
    files = [p for p in local.rglob("*") if p.is_file()]
    return [str(p) for p in files], [p.relative_to(local).as_posix() for p in files]


def upload(options, files, remote):
    sources, keys = files
    s3fs.S3FileSystem(**options).put(sources, [f"{remote}/{k}" for k in keys])


@pytest.fixture
def s3_image(s3_bucket, s3_options, small_files):
    upload(s3_options, small_files, f"{s3_bucket}/img.zarr")
    return f"s3://{s3_bucket}/img.zarr"


def test_s3_thumbnail_with_environment_credentials(s3_env, s3_image, tmp_path, capsys):
    out = tmp_path / "s3.png"
    code, stdout, err = run(capsys, "thumbnail", s3_image, "--max-size", 64, "-o", out)
    assert code == 0, err
    assert "level 1 of 3" in stdout and PILImage.open(out).size == (64, 64)


def test_s3_wrong_credentials_exit_2(s3_env, s3_image, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    s3fs.S3FileSystem.clear_instance_cache()
    code, stdout, err = run(
        capsys,
        "window",
        s3_image,
        "--x",
        0,
        "--y",
        0,
        "--width",
        5,
        "--height",
        5,
        "-o",
        tmp_path / "x.png",
    )
    assert code == 2 and stdout == ""
    assert "access denied" in err and "AWS_ACCESS_KEY_ID" in err and err.count("\n") == 0


def test_s3_public_bucket_anonymous(s3_server, small_files, tmp_path, capsys):
    upload(s3_server.public_writer_options, small_files, f"{s3_server.public_bucket}/cli.zarr")
    out = tmp_path / "anon.npy"
    code, _, err = run(
        capsys,
        "window",
        f"s3://{s3_server.public_bucket}/cli.zarr",
        "--x",
        0,
        "--y",
        0,
        "--width",
        20,
        "--height",
        10,
        "--anon",
        "--endpoint-url",
        s3_server.public_endpoint_url,
        "-o",
        out,
    )
    assert code == 0, err
    np.testing.assert_array_equal(np.load(out), SMALL[:, :10, :20])
