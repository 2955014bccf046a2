"""``IndexStatus.to_dict`` / ``IndexCheck.to_dict``: what ``ngffstore index --status/--check --json`` prints."""

from __future__ import annotations

import json

from ngffstore.index._common import IndexCheck, IndexStatus


def test_status_to_dict_has_every_field_and_current():
    status = IndexStatus(root="r", index_url="r/i.parquet", exists=True, rows=3, pending=("a",), pending_changes=1)
    doc = json.loads(json.dumps(status.to_dict()))
    assert doc == {"root": "r", "index_url": "r/i.parquet", "exists": True, "rows": 3, "built": None,
                   "updated": None, "pending": ["a"], "pending_changes": 1, "current": False}
    assert IndexStatus(root="r", index_url="r/i.parquet", exists=True).to_dict()["current"] is True


def test_check_to_dict_has_every_field_and_current():
    check = IndexCheck(root="r", exists=True, added=("b",))
    doc = json.loads(json.dumps(check.to_dict()))
    assert doc == {"root": "r", "exists": True, "added": ["b"], "removed": [], "changed": [], "pending": [],
                   "current": False}
    assert IndexCheck(root="r", exists=False).to_dict()["current"] is False
