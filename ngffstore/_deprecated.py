"""Deprecation helpers shared by every subsystem: renamed functions, reordered or positional options.

Old public names keep working for one release (until ``REMOVED_IN``) and warn with a
``DeprecationWarning`` that names the replacement; internal code and tests use the new names
(the test suite turns warnings into errors).

    delete_layer = renamed("rois.delete_layer", remove_rois, "rois.remove_rois")

    @positional_deprecated("storage_options")
    def open_thing(url, *, storage_options=None): ...
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from .storage import Location

REMOVED_IN = "0.3"

F = TypeVar("F", bound=Callable[..., Any])


def _qualified(name: str) -> str:
    return name if name.startswith("ngffstore") else f"ngffstore.{name}"


def warn_deprecated(message: str, *, stacklevel: int = 2) -> None:
    """Emit ``DeprecationWarning(message)`` attributed to the caller of the function calling this.

    ``stacklevel=2`` points at the code that called the deprecated function (one level above the
    function that calls ``warn_deprecated``).
    """
    warnings.warn(message, DeprecationWarning, stacklevel=stacklevel + 1)


def deprecation_message(old_name: str, new_name: str) -> str:
    """The one wording of a rename: ``ngffstore.X is deprecated; use ngffstore.Y (removed in 0.3)``."""
    return f"{_qualified(old_name)} is deprecated; use {_qualified(new_name)} (removed in {REMOVED_IN})"


def renamed(old_name: str, new_func: F, new_name: str | None = None) -> F:
    """A wrapper of ``new_func`` under its old name that warns once per call site.

    ``old_name`` and ``new_name`` are dotted names below ``ngffstore`` (``"labels.delete_layer"``);
    ``new_name`` defaults to ``new_func``'s module (below ngffstore) and name.
    """
    if new_name is None:
        module = getattr(new_func, "__module__", "") or ""
        module = module.removeprefix("ngffstore").lstrip(".")
        new_name = f"{module}.{new_func.__name__}" if module else new_func.__name__
    message = deprecation_message(old_name, new_name)

    @functools.wraps(new_func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warn_deprecated(message)
        return new_func(*args, **kwargs)

    wrapper.__name__ = old_name.rsplit(".", 1)[-1]
    wrapper.__qualname__ = wrapper.__name__
    wrapper.__doc__ = f"Deprecated alias: {message}."
    wrapper.__deprecated__ = message  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def positional_deprecated(*names: str) -> Callable[[F], F]:
    """Accept the keyword-only options ``names`` positionally for one release, with a warning.

    For a function whose options became keyword-only: extra positional arguments beyond its
    positional parameters are mapped, in order, onto ``names``.
    """

    def decorate(func: F) -> F:
        params = inspect.signature(func).parameters.values()
        n_positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        qualified = _qualified(
            f"{func.__module__.removeprefix('ngffstore').lstrip('.')}.{func.__name__}"
        )

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            extra = args[n_positional:]
            if extra:
                if len(extra) > len(names):
                    raise TypeError(
                        f"{func.__name__}() takes {n_positional} positional arguments "
                        f"but {len(args)} were given"
                    )
                moved = names[: len(extra)]
                for name, value in zip(moved, extra):
                    if name in kwargs:
                        raise TypeError(
                            f"{func.__name__}() got multiple values for argument {name!r}"
                        )
                    kwargs[name] = value
                shown = ", ".join(f"{name}=..." for name in moved)
                warn_deprecated(
                    f"passing {', '.join(moved)} positionally to {qualified} is deprecated; "
                    f"pass {shown} (removed in {REMOVED_IN})"
                )
                args = args[:n_positional]
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def is_url(value: Any) -> bool:
    """Whether ``value`` names a place in a store (a str, a path or a :class:`Location`)."""
    return isinstance(value, (str, os.PathLike, Location))


def old_call(
    adapt: Callable[
        [tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]] | None
    ],
    message: str,
) -> Callable[[F], F]:
    """Calls in an old argument order keep working for one release, with ``message`` as warning.

    ``adapt(args, kwargs)`` returns the ``(args, kwargs)`` of the new order for a call in the old
    one, and None for a call in the new one (called unchanged).
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            new = adapt(args, dict(kwargs))
            if new is not None:
                warn_deprecated(message)
                args, kwargs = new
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def data_first(name: str, data: str) -> Callable[[F], F]:
    """For ``name(data, url, *, ...)`` that used to be ``name(url, data, ...)``: a call whose first
    argument is a URL and whose second is not (or is missing, the data given by keyword) is
    swapped, with a warning."""

    def adapt(
        args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        if not args or not is_url(args[0]) or "url" in kwargs:
            return None
        if len(args) >= 2 and not is_url(args[1]):
            return (args[1], args[0], *args[2:]), kwargs
        if len(args) == 1:
            return (kwargs.pop(data, None), args[0]), kwargs
        return None

    message = (
        f"{_qualified(name)}(url, {data}) is deprecated; use {_qualified(name)}({data}, url) "
        f"(removed in {REMOVED_IN})"
    )
    return old_call(adapt, message)


__all__ = [
    "REMOVED_IN",
    "data_first",
    "deprecation_message",
    "is_url",
    "old_call",
    "positional_deprecated",
    "renamed",
    "warn_deprecated",
]
