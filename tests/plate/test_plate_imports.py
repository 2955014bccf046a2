"""A local plate build (fields, then the stored preview) never imports ``distributed``: dask's
default scheduler looks for a cluster client first, which imports it (0.18 s, 12 MiB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile

PROBE = """
import json, sys
from converters.plate import from_pattern
from ngffstore.plate import write_plate
summary = write_plate(from_pattern(sys.argv[1], "{well}_s{field}_w{channel}.tif"), sys.argv[2], progress=False)
print(json.dumps({"fields": summary.fields, "distributed": sorted(m for m in sys.modules if m.split(".")[0] == "distributed")}))
"""


def test_plate_build_with_preview_does_not_import_distributed(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    folder = tmp_path / "in"
    folder.mkdir()
    for well in ("A01", "A02", "B01"):
        for field in (1, 2):
            for channel in (1, 2):
                tifffile.imwrite(folder / f"{well}_s{field}_w{channel}.tif",
                                 rng.integers(0, 4000, (64, 80), dtype=np.uint16))
    out = tmp_path / "plate.zarr"
    run = subprocess.run([sys.executable, "-c", PROBE, str(folder), str(out)], cwd=Path(__file__).parents[2],
                         capture_output=True, text=True, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["fields"] == 6
    assert (out / "preview" / "zarr.json").exists()  # the preview was built (its mosaic computed)
    assert result["distributed"] == []


def test_small_lazy_fields_are_read_into_memory_before_they_are_written():
    """A small field written in its own thread goes through the writer's numpy path (no dask
    task per block); large fields, and fields written by several threads, stay lazy."""
    import dask.array as da
    import numpy as np

    from ngffstore.plate import write as plate_write
    from ngffstore.source import Source

    pixels = np.arange(2 * 64 * 80, dtype=np.uint16).reshape(2, 64, 80)
    lazy = da.from_array(pixels, chunks=(1, 32, 40))
    source = Source(data=lazy, axes="cyx", name="f", channel_names=["a", "b"], scale={"y": 0.5, "x": 0.5})
    loaded = plate_write._loaded(source, "synchronous")
    assert isinstance(loaded.data, np.ndarray) and np.array_equal(loaded.data, pixels)
    assert (loaded.axes, loaded.name, loaded.channel_names, loaded.scale) == ("cyx", "f", ["a", "b"], {"y": 0.5, "x": 0.5})
    assert source.data is lazy  # the caller's source is left as it was
    assert isinstance(plate_write._loaded(lazy, "synchronous"), np.ndarray)
    assert plate_write._loaded(source, "threads") is source
    big = da.zeros((plate_write.LOAD_FIELD_BELOW // 2 + 1, 2), dtype=np.uint16, chunks=(1 << 20, 2))
    assert plate_write._loaded(big, "synchronous") is big
