"""``ngffstore.index.search.search_report``: the hits as table, CSV or JSON text, and the notes."""

from __future__ import annotations

import csv
import io
import json

import pytest

from ngffstore import write_metadata
from ngffstore.errors import ValidationError
from ngffstore.index import build_index
from ngffstore.index.search import DEFAULT_COLUMNS, ExpressionError, SearchReport, search_report
from tests.index.test_index import make_image


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("report") / "coll")
    make_image(f"{root}/a.zarr", kv={"strain": "BY4741"}, tags=["good", "review"])
    make_image(f"{root}/b.zarr", channels=("GFP",), kv={"strain": "BY4742"})
    build_index(root)
    return root


def test_table_has_default_and_searched_columns_without_url(root):
    report = search_report(root, 'strain == "BY4741"')
    assert isinstance(report, SearchReport) and report.matches == 1
    header = report.output.splitlines()[0].split()
    assert header == [*DEFAULT_COLUMNS, "kv.strain"]
    assert "good, review" in report.output and "url" not in header
    assert report.notes() == ["1 match(es)"]


def test_csv_joins_lists_with_semicolons(root):
    report = search_report(root, "", columns="name, tags", format="csv")
    rows = list(csv.DictReader(io.StringIO(report.output)))
    assert [r["name"] for r in rows] == ["a", "b"] and rows[0]["tags"] == "good;review"
    assert list(rows[0]) == ["path", "url", "name", "tags"]


def test_json_has_every_column_and_plain_values(root):
    records = json.loads(search_report(root, "", format="json", limit=1).output)
    assert len(records) == 1 and records[0]["tags"] == ["good", "review"]
    assert records[0]["url"].endswith("/a.zarr") and "size_x" in records[0]


def test_no_hits_is_empty_text(root):
    report = search_report(root, 'strain == "none"')
    assert report.output == "" and report.notes() == ["0 match(es)"]


def test_pending_changes_are_noted_with_the_root_as_given(tmp_path):
    root = str(tmp_path / "coll")
    make_image(f"{root}/a.zarr")
    build_index(root)
    write_metadata({"strain": "changed"}, f"{root}/a.zarr")  # journaled, not yet folded in
    notes = search_report(root, 'strain == "changed"').notes()
    assert notes[0] == "1 match(es)" and len(notes) == 2
    assert notes[-1].startswith("note: ") and notes[-1].endswith(f"run 'ngffstore index {root}' to fold them in")


def test_bad_expression_and_format(root):
    with pytest.raises(ExpressionError):
        search_report(root, "size_x >")
    with pytest.raises(ValidationError, match="unknown search output format 'xml'"):
        search_report(root, "", format="xml")
