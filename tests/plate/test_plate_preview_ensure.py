"""``ensure_plate_preview``: check the stored plate preview, build it only when needed
(``ngffstore plate preview URL [--check | --force] [--tile N]``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ngffstore
from ngffstore.errors import InputError, NotNgffError
from ngffstore.plate import write_plate
from ngffstore.plate.preview import PreviewResult, check_preview, ensure_plate_preview
from tests.plate.test_plate_preview import constant_fields, listing, run


@pytest.fixture
def plate(tmp_path):
    fields, _truth = constant_fields([("A", 1), ("B", 2)], n_fields=2)
    url = str(tmp_path / "p.zarr")
    write_plate(fields, url, axes="cyx", rows=2, columns=2, min_size=16, progress=False)
    return url


def _rewrite_field(url: str) -> None:
    new = np.full((2, 40, 60), 7, np.uint16)
    ngffstore.write_image(new, f"{url}/B/2/1", axes="cyx", min_size=16, overwrite=True, progress=False)


def test_fresh_preview_is_checked_and_kept(plate):
    before = listing(plate)
    result = ensure_plate_preview(plate)
    assert isinstance(result, PreviewResult)
    assert result.fresh and result.built is None and result.check is not None and result.check.fresh
    assert result.check.requests == 1 + 2 + 4  # the preview document, each well, each field
    assert listing(plate) == before
    assert result.to_text() == f"preview of {result.check.url}: fresh; nothing to do (--force rebuilds it)"
    assert not result.has_json


def test_stale_preview_check_only_writes_nothing(plate):
    _rewrite_field(plate)
    before = listing(plate)
    result = ensure_plate_preview(plate, check_only=True)
    assert not result.fresh and result.built is None
    assert result.check is not None and result.check.stale_fields == ("B/2/1",)
    assert result.has_json and result.to_dict()["stale_fields"] == ("B/2/1",)
    assert result.to_text() == result.check.to_text() and "stale" in result.to_text()
    assert listing(plate) == before


def test_stale_preview_is_rebuilt(plate):
    _rewrite_field(plate)
    result = ensure_plate_preview(plate, progress=False)
    assert result.fresh and result.check is not None and not result.check.fresh
    assert result.built is not None and result.built.fields == 4
    assert result.to_dict() == result.built.__dict__ and result.to_text() == result.built.to_text()
    assert check_preview(plate).fresh


def test_force_builds_without_checking_and_a_tile_rebuilds_a_fresh_preview(plate):
    result = ensure_plate_preview(plate, force=True, progress=False)
    assert result.check is None and result.built is not None and result.fresh
    assert ensure_plate_preview(plate).built is None  # fresh again: kept
    result = ensure_plate_preview(plate, tile=16, progress=False)
    assert result.check is not None and result.check.fresh
    assert result.built is not None and max(result.built.tile) == 16
    assert check_preview(plate).fresh


def test_bad_requests(plate):
    with pytest.raises(InputError, match="not both"):
        ensure_plate_preview(plate, check_only=True, force=True)
    with pytest.raises(NotNgffError, match="needs an HCS plate"):
        ensure_plate_preview(f"{plate}/A/1/0")


def test_cli_prints_the_result(plate, capsys):
    code, out, _ = run(capsys, "plate", "preview", plate, "--json")  # fresh: the text answer
    assert code == 0 and out.strip().endswith("fresh; nothing to do (--force rebuilds it)")
    code, out, _ = run(capsys, "plate", "preview", plate, "--check", "--json")
    assert code == 0 and json.loads(out)["fresh"] is True
    _rewrite_field(plate)
    code, out, _ = run(capsys, "plate", "preview", plate, "--check", "--json")
    assert code == 1 and json.loads(out)["stale_fields"] == ["B/2/1"]
    code, out, _ = run(capsys, "plate", "preview", plate, "--json", "--no-progress")
    assert code == 0 and json.loads(out)["fields"] == 4
    code, _, err = run(capsys, "plate", "preview", plate, "--check", "--force")
    assert code != 0 and "give --check (only look) or --force (rebuild), not both" in err
