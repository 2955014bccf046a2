"""``export_statistics``: ROI statistics as CSV to a file, an S3 object or text (``ngffstore rois stats``)."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import shapely

from ngffstore import rois
from ngffstore.errors import NgffStoreError
from ngffstore.storage import Location
from tests.rois.test_rois import make_image


def _image_with_rois(url: str, options: dict | None = None) -> str:
    make_image(url, shape=(100, 100), options=options, scale={"y": 0.5, "x": 0.5},
               units={"y": "micrometer", "x": "micrometer"})
    rois.write_rois(
        [{"geometry": shapely.box(0, 0, 10, 10), "terms": ["t"]}, {"geometry": shapely.box(0, 0, 3, 7)}],
        url, layer="l", storage_options=options,
    )
    return url


def test_export_statistics_as_text_and_to_a_file(tmp_path):
    url = _image_with_rois(str(tmp_path / "a.zarr"))
    result = rois.export_statistics(url)
    assert (result.rows, result.output, result.to_text()) == (2, None, "2 rows")
    assert result.text == rois.statistics(url).to_csv(index=False, float_format="%.6g")
    table = pd.read_csv(io.StringIO(result.text)).set_index("term")
    assert table.loc["t", "area_px"] == 100 and table.loc["(no term)", "area"] == pytest.approx(21 * 0.25)
    path = tmp_path / "stats.csv"
    written = rois.export_statistics([url], path, per_layer=True)
    assert (written.rows, written.output, written.text) == (2, str(path), None)
    assert written.to_text() == f"wrote 2 rows to {path}"
    assert path.read_text() == rois.statistics(url, per_layer=True).to_csv(index=False, float_format="%.6g")
    with pytest.raises(NgffStoreError, match="cannot write"):
        rois.export_statistics(url, tmp_path / "missing" / "stats.csv")


def test_export_statistics_to_s3(s3_bucket, s3_options):
    _image_with_rois(f"s3://{s3_bucket}/c/img.zarr", s3_options)
    out = f"s3://{s3_bucket}/stats.csv"
    result = rois.export_statistics(
        collection=f"s3://{s3_bucket}/c", output=out, storage_options=s3_options, output_storage_options=s3_options
    )
    assert result.rows == 2 and result.output == out
    stored = Location.parse(out, s3_options)
    text = stored.parent.read_bytes(stored.name).decode()
    assert pd.read_csv(io.StringIO(text))["image"].tolist() == ["img.zarr", "img.zarr"]
