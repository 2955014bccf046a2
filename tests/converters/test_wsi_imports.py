"""A whole-slide conversion computes its attachments (label, macro, thumbnail: dask arrays) on
local threads: dask's default scheduler would first look for a ``distributed`` client, which
imports ``distributed`` (0.16 s) into every slide conversion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.converters.test_wsi import smooth_rgb, write_svs

PROBE = """
import json, sys
from ngffstore.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "distributed": sorted(m for m in sys.modules if m.split(".")[0] == "distributed"),
                  "dask": "dask.array" in sys.modules}))
"""


def test_slide_conversion_does_not_import_distributed(tmp_path: Path) -> None:
    path = tmp_path / "slide.svs"
    label = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    write_svs(path, smooth_rgb(700, 900), label=label, macro=smooth_rgb(50, 150, seed=2))
    out = tmp_path / "slide.ome.zarr"
    run = subprocess.run([sys.executable, "-c", PROBE, "convert", str(path), str(out), "--no-progress"],
                         cwd=Path(__file__).parents[2], capture_output=True, text=True, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    # the attachments really were dask arrays, computed, and stored
    assert result["code"] == 0 and result["dask"]
    assert sorted(p.name for p in (out / "attachments").glob("*.png")) == ["label.png", "macro.png", "thumbnail.png"]
    assert result["distributed"] == []
