"""The shared deprecation helpers: old names and positional options warn and still work."""

from __future__ import annotations

import warnings

import pytest

from ngffstore._deprecated import (
    REMOVED_IN,
    deprecation_message,
    positional_deprecated,
    renamed,
    warn_deprecated,
)


def remove_things(url: str, *, force: bool = False) -> tuple[str, bool]:
    return url, force


def test_renamed_warns_with_replacement_and_calls_through():
    old = renamed("things.delete_things", remove_things, "things.remove_things")
    with pytest.warns(DeprecationWarning) as record:
        result = old("s3://b/x", force=True)
    assert result == ("s3://b/x", True)
    assert str(record[0].message) == (
        f"ngffstore.things.delete_things is deprecated; use ngffstore.things.remove_things "
        f"(removed in {REMOVED_IN})"
    )
    # stacklevel=2: the warning points at this file (the caller), not at _deprecated.py
    assert record[0].filename == __file__
    assert old.__name__ == "delete_things"


def test_renamed_default_new_name_is_module_and_function():
    old = renamed("old_remove", remove_things)
    with pytest.warns(DeprecationWarning, match=r"use ngffstore\.\S*remove_things \(removed in"):
        old("u")


def test_warn_deprecated_points_at_the_caller_of_the_deprecated_function():
    def deprecated_api() -> None:
        warn_deprecated("ngffstore.x is deprecated; use ngffstore.y (removed in 0.3)")

    with pytest.warns(DeprecationWarning) as record:
        deprecated_api()
    assert record[0].filename == __file__
    assert "use ngffstore.y" in str(record[0].message)


def test_deprecation_message_keeps_qualified_names():
    assert deprecation_message("ngffstore.a", "b") == (
        f"ngffstore.a is deprecated; use ngffstore.b (removed in {REMOVED_IN})"
    )


def test_positional_options_warn_and_map_onto_keywords():
    @positional_deprecated("storage_options", "force")
    def open_thing(url: str, *, storage_options: dict | None = None, force: bool = False):
        return url, storage_options, force

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_thing("u", storage_options={"anon": True}) == ("u", {"anon": True}, False)
    with pytest.warns(DeprecationWarning, match="passing storage_options positionally"):
        assert open_thing("u", {"anon": True}) == ("u", {"anon": True}, False)
    with pytest.warns(DeprecationWarning, match="storage_options, force"):
        assert open_thing("u", None, True) == ("u", None, True)
    with pytest.raises(TypeError, match="positional arguments"):
        open_thing("u", None, True, 3)
    with pytest.raises(TypeError, match="multiple values"):
        open_thing("u", None, storage_options={})
