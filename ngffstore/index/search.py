"""Search a collection's index with a small, safe expression language (see specs/index.md).

::

    channel == "DAPI" and strain == "BY4741"
    size_z > 1 and (tags contains "good" or kv.operator in ["ana", "bo"])
    not labels == null and created >= "2024-01-01"

Columns are the index's (``name``, ``kind``, ``plate``, ``well``, ``size_x``, ``channels``...),
``kv.<key>`` for key-values (a bare ``<key>`` works too), ``rois.<term>`` for ROI counts; a name
with other characters is written in backquotes (`` `kv.Objective NA` ``). Nothing is evaluated as
Python: the expression is tokenised and parsed here, then applied to the index with pandas.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ValidationError
from ..paths import check_relative_path
from ..storage import Location
from ._common import INDEX_FILE, IndexNotFoundError, build_hint
from ._store import index_status, load_index

MAX_DEPTH = 64
ALIASES = {"channel": "channels", "tag": "tags", "label": "labels", "table": "tables"}
#: What the CLI prints when no --columns are given (plus the columns the expression uses).
DEFAULT_COLUMNS = ("path", "name", "kind", "channels", "tags")


class ExpressionError(ValidationError):
    """A search expression that cannot be parsed; ``position`` is the 1-based column."""

    def __init__(self, message: str, expression: str, position: int):
        self.expression = expression
        self.position = position
        super().__init__(f"bad search expression at column {position}: {message}")

    def caret(self) -> str:
        """The expression and a caret under the offending position (two lines)."""
        return f"  {self.expression}\n  {' ' * (self.position - 1)}^"


class UnknownColumnError(ExpressionError):
    """A column the index does not have (the message lists those it has)."""

    def __init__(self, message: str, expression: str, position: int):
        self.expression = expression
        self.position = position
        ValidationError.__init__(self, message)


# ---------------------------------------------------------------------------------------------
# tokens
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # NUMBER STRING IDENT OP KEYWORD ( ) [ ] , END
    value: Any
    pos: int  # 1-based column
    text: str


KEYWORDS = {"and", "or", "not", "in", "contains", "true", "false", "null"}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_]))
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<quoted>`[^`]*`)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.\-]*)
  | (?P<op>==|!=|<=|>=|<|>|=)
  | (?P<punct>[()\[\],])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def tokenize(text: str) -> list[_Token]:
    tokens = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            ch = text[i]
            if ch in "\"'":
                raise ExpressionError(f"the string starting here is not closed (add a {ch})", text, i + 1)
            if ch == "`":
                raise ExpressionError("the quoted column name starting here is not closed (add a `)", text, i + 1)
            raise ExpressionError(f"unexpected character {ch!r}", text, i + 1)
        kind = m.lastgroup
        raw = m.group()
        pos = i + 1
        i = m.end()
        if kind == "space":
            continue
        if kind == "number":
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(_Token("NUMBER", value, pos, raw))
        elif kind == "string":
            tokens.append(_Token("STRING", _unescape(raw[1:-1]), pos, raw))
        elif kind == "quoted":
            name = raw[1:-1].strip()
            if not name:
                raise ExpressionError("empty column name in backquotes", text, pos)
            tokens.append(_Token("IDENT", name, pos, raw))
        elif kind == "ident":
            lower = raw.lower()
            if lower in KEYWORDS:
                tokens.append(_Token("KEYWORD", lower, pos, raw))
            else:
                tokens.append(_Token("IDENT", raw, pos, raw))
        elif kind == "op":
            tokens.append(_Token("OP", "==" if raw == "=" else raw, pos, raw))
        else:
            tokens.append(_Token(raw, raw, pos, raw))
    tokens.append(_Token("END", None, len(text) + 1, ""))
    return tokens


# ---------------------------------------------------------------------------------------------
# syntax tree
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    pos: int


@dataclass(frozen=True)
class Compare:
    column: Column
    op: str  # == != < <= > >= contains has
    value: Any
    pos: int


@dataclass(frozen=True)
class In:
    column: Column
    values: tuple[Any, ...]
    negate: bool
    pos: int


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # and / or
    items: tuple[Any, ...]


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, message: str, token: _Token | None = None) -> ExpressionError:
        token = token or self.tok
        return ExpressionError(message, self.text, token.pos)

    def found(self, token: _Token | None = None) -> str:
        token = token or self.tok
        return "the end of the expression" if token.kind == "END" else repr(token.text)

    def take(self) -> _Token:
        token = self.tok
        self.i += 1
        return token

    def is_keyword(self, word: str) -> bool:
        return self.tok.kind == "KEYWORD" and self.tok.value == word

    def parse(self) -> Any:
        if self.tok.kind == "END":
            raise ExpressionError("the expression is empty", self.text, 1)
        node = self.parse_or()
        if self.tok.kind != "END":
            raise self.error(f"expected 'and', 'or' or the end of the expression, found {self.found()}")
        return node

    def parse_or(self) -> Any:
        items = [self.parse_and()]
        while self.is_keyword("or"):
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def parse_and(self) -> Any:
        items = [self.parse_unary()]
        while self.is_keyword("and"):
            self.take()
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def parse_unary(self) -> Any:
        if self.is_keyword("not"):
            self.take()
            return Not(self.parse_unary_nested())
        if self.tok.kind == "(":
            opening = self.take()
            node = self.parse_nested()
            if self.tok.kind != ")":
                raise self.error(f"expected ')' to close the '(' at column {opening.pos}, found {self.found()}")
            self.take()
            return node
        return self.parse_comparison()

    def parse_unary_nested(self) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("the expression is nested too deeply")
        try:
            return self.parse_unary()
        finally:
            self.depth -= 1

    def parse_nested(self) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("the expression is nested too deeply")
        try:
            return self.parse_or()
        finally:
            self.depth -= 1

    def literal(self, what: str) -> Any:
        token = self.tok
        if token.kind in ("NUMBER", "STRING"):
            self.take()
            return token.value
        if token.kind == "KEYWORD" and token.value in ("true", "false", "null"):
            self.take()
            return {"true": True, "false": False, "null": None}[token.value]
        if token.kind == "IDENT":
            raise self.error(f"expected {what}, found the name {token.text!r} (put text in quotes)")
        raise self.error(f"expected {what}, found {self.found()}")

    def value_list(self) -> tuple[Any, ...]:
        if self.tok.kind != "[":
            raise self.error(f"expected a list like [\"a\", \"b\"] after 'in', found {self.found()}")
        self.take()
        values = []
        if self.tok.kind == "]":
            raise self.error("the list is empty")
        while True:
            values.append(self.literal("a value in the list"))
            if self.tok.kind == ",":
                self.take()
                continue
            if self.tok.kind == "]":
                self.take()
                return tuple(values)
            raise self.error(f"expected ',' or ']' in the list, found {self.found()}")

    def parse_comparison(self) -> Any:
        start = self.tok
        if start.kind == "IDENT":
            column = Column(start.value, start.pos)
            self.take()
            op = self.tok
            if op.kind == "OP":
                self.take()
                if self.tok.kind == "IDENT":
                    raise self.error(
                        "compare a column with a value, not with another column (put text in quotes)"
                    )
                return Compare(column, op.value, self.literal(f"a value after {op.text!r}"), op.pos)
            if op.kind == "KEYWORD" and op.value == "contains":
                self.take()
                value = self.literal("a text after 'contains'")
                if not isinstance(value, str):
                    raise self.error("'contains' looks for a text: put it in quotes", op)
                return Compare(column, "contains", value, op.pos)
            if op.kind == "KEYWORD" and op.value == "in":
                self.take()
                return In(column, self.value_list(), False, op.pos)
            if op.kind == "KEYWORD" and op.value == "not":
                self.take()
                if not self.is_keyword("in"):
                    raise self.error(f"expected 'in' after 'not', found {self.found()}")
                self.take()
                return In(column, self.value_list(), True, op.pos)
            raise self.error(
                f"expected an operator (==, !=, <, <=, >, >=, in, contains) after {start.text!r}, "
                f"found {self.found()}"
            )
        if start.kind in ("NUMBER", "STRING") or (start.kind == "KEYWORD" and start.value in ("true", "false", "null")):
            value = self.literal("a value")
            op = self.tok
            if op.kind == "OP":
                self.take()
                if self.tok.kind != "IDENT":
                    raise self.error(f"expected a column name after {op.text!r}, found {self.found()}")
                ident = self.take()
                return Compare(Column(ident.value, ident.pos), _FLIP[op.value], value, op.pos)
            if op.kind == "KEYWORD" and op.value == "in":
                self.take()
                if self.tok.kind != "IDENT":
                    raise self.error(f"expected a column name after 'in', found {self.found()}")
                ident = self.take()
                return Compare(Column(ident.value, ident.pos), "has", value, op.pos)
            raise self.error(f"expected an operator after the value, found {self.found()}")
        if start.kind == "KEYWORD":
            raise self.error(f"expected a column name, found the keyword {start.text!r}")
        raise self.error(f"expected a column name, a value or '(', found {self.found()}")


@dataclass(frozen=True)
class Expression:
    """A parsed search expression."""

    text: str
    tree: Any

    @property
    def columns(self) -> tuple[Column, ...]:
        """The column references, in order of appearance."""
        out: list[Column] = []

        def visit(node: Any) -> None:
            if isinstance(node, (Compare, In)):
                out.append(node.column)
            elif isinstance(node, Not):
                visit(node.item)
            elif isinstance(node, BoolOp):
                for item in node.items:
                    visit(item)

        visit(self.tree)
        return tuple(out)


def parse_expression(text: str) -> Expression:
    """Parse ``text``; raises :class:`ExpressionError` pointing at the offending column."""
    if not isinstance(text, str):
        raise ValidationError(f"a search expression is text, not {type(text).__name__}")
    return Expression(text, _Parser(text).parse())


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
def column_kinds(schema: pa.Schema) -> dict[str, tuple[str, str | None]]:
    """``{column: (kind, element kind)}``; kinds are number, string, bool, time, list."""

    def kind_of(t: pa.DataType) -> str:
        if pa.types.is_boolean(t):
            return "bool"
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            return "number"
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            return "time"
        return "string"

    out: dict[str, tuple[str, str | None]] = {}
    for f in schema:
        if pa.types.is_list(f.type) or pa.types.is_large_list(f.type):
            out[f.name] = ("list", kind_of(f.type.value_type))
        else:
            out[f.name] = (kind_of(f.type), None)
    return out


def resolve_column(name: str, available: Sequence[str], expression: str = "", pos: int = 1) -> str:
    """The index column ``name`` refers to (aliases, bare key-value names) or an error."""
    names = set(available)
    if name in names:
        return name
    alias = ALIASES.get(name)
    if alias in names:
        return alias
    if not name.startswith("kv.") and f"kv.{name}" in names:
        return f"kv.{name}"
    close = difflib.get_close_matches(name, list(names) + [c[3:] for c in names if c.startswith("kv.")], n=3)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    shown = sorted(names)
    listing = ", ".join(shown[:80]) + (f", … ({len(shown) - 80} more)" if len(shown) > 80 else "")
    where = f" at column {pos} of the search expression" if expression else ""
    raise UnknownColumnError(
        f"unknown column {name!r}{where}{hint}; available columns: {listing}", expression, pos
    )


_OPS: dict[str, Callable[..., Any]] = {
    "==": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal,
    ">": pc.greater, ">=": pc.greater_equal,
}
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def _as_numbers(array: pa.Array) -> pa.Array:
    """Text that reads as a number, as float64; other text becomes null."""
    ok = pc.fill_null(pc.match_substring_regex(array, _NUMBER), False)
    cleaned = pc.if_else(ok, pc.utf8_trim_whitespace(array), pa.scalar(None, pa.string()))
    return pc.cast(cleaned, pa.float64())


def _bools(result: Any) -> np.ndarray:
    return np.asarray(pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=bool)


class _Evaluator:
    """Evaluates a parsed expression on Arrow columns (vectorised; no Python per row)."""

    def __init__(self, expression: Expression, table: pa.Table, resolved: Mapping[Column, str]):
        self.expression = expression
        self.table = table
        self.kinds = column_kinds(table.schema)
        self.resolved = resolved
        self.n = table.num_rows

    def error(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(message, self.expression.text, pos)

    def run(self, node: Any) -> np.ndarray:
        if isinstance(node, BoolOp):
            masks = [self.run(item) for item in node.items]
            out = masks[0]
            for m in masks[1:]:
                out = (out & m) if node.op == "and" else (out | m)
            return out
        if isinstance(node, Not):
            return ~self.run(node.item)
        name = self.resolved[node.column]
        array = self.table.column(name).combine_chunks()
        kind, element = self.kinds[name]
        if isinstance(node, In):
            if kind == "list":
                hit = self.any_element(array, element or "string", "==", node.values, node, name)
                return ~hit if node.negate else hit
            hit = self.compare_any(array, kind, "==", node.values, node, name)
            return (~hit & _bools(pc.is_valid(array))) if node.negate else hit
        if kind == "list":
            if node.value is None and node.op in ("==", "!="):
                empty = _bools(pc.fill_null(pc.equal(pc.list_value_length(array), 0), True))
                return empty if node.op == "==" else ~empty
            op = "==" if node.op == "has" else node.op
            if op == "!=":  # a list is "!= x" when no element is x
                return ~self.any_element(array, element or "string", "==", (node.value,), node, name)
            return self.any_element(array, element or "string", op, (node.value,), node, name)
        op = "substring" if node.op == "has" else node.op  # "text" in column: a substring
        return self.compare(array, kind, op, node.value, node, name)

    def any_element(
        self, array: pa.Array, element: str, op: str, values: Sequence[Any], node: Any, name: str
    ) -> np.ndarray:
        flat = pc.list_flatten(array)
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        hit = self.compare_any(flat, element, op, values, node, name)
        out = np.zeros(len(array), dtype=bool)
        out[parents[hit]] = True
        return out

    def compare_any(
        self, array: pa.Array, kind: str, op: str, values: Sequence[Any], node: Any, name: str
    ) -> np.ndarray:
        out = np.zeros(len(array), dtype=bool)
        for value in values:
            out |= self.compare(array, kind, op, value, node, name)
        return out

    def compare(self, array: pa.Array, kind: str, op: str, value: Any, node: Any, name: str) -> np.ndarray:
        pos = node.pos
        if value is None:
            if op == "==":
                return _bools(pc.is_null(array))
            if op == "!=":
                return _bools(pc.is_valid(array))
            raise self.error(f"only == and != compare with null (column {name!r})", pos)
        if op in ("contains", "substring"):
            if kind != "string":
                raise self.error(f"'contains' works on text, and {name!r} holds {kind}s", pos)
            return _bools(pc.match_substring(array, str(value), ignore_case=op == "contains"))
        fn = _OPS[op]
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                try:
                    value = None if isinstance(value, bool) else float(value)
                except ValueError:
                    value = None
                if value is None:
                    raise self.error(f"{name!r} holds numbers; compare it with a number", pos)
            return _bools(fn(array, pa.scalar(value)))
        if kind == "string":
            if isinstance(value, bool):
                return _bools(fn(array, pa.scalar("true" if value else "false")))
            if isinstance(value, (int, float)):
                return _bools(fn(_as_numbers(array), pa.scalar(float(value))))
            return _bools(fn(array, pa.scalar(str(value))))
        if kind == "bool":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool) or op not in ("==", "!="):
                raise self.error(f"{name!r} is true or false; use == true or == false", pos)
            return _bools(fn(array, pa.scalar(value)))
        try:  # time
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError):
            raise self.error(f"{value!r} is not a date or time (use e.g. \"2024-05-01\")", pos) from None
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        return _bools(fn(array, pa.scalar(stamp.to_pydatetime(), type=array.type)))


def evaluate(expression: Expression, table: pa.Table) -> pa.Array:
    """A boolean mask over the rows of an index ``table``."""
    resolved = {c: resolve_column(c.name, table.column_names, expression.text, c.pos) for c in expression.columns}
    return pa.array(_Evaluator(expression, table, resolved).run(expression.tree))


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
class SearchResult(pd.DataFrame):
    """Search hits: one row per image or plate field, with its ``url``; ``open(i)`` opens one."""

    _metadata: ClassVar[list[str]] = ["root", "storage_options", "status"]

    @property
    def _constructor(self) -> type[SearchResult]:
        return SearchResult

    def open(self, i: int = 0) -> Any:
        """The image of the ``i``-th row (by position), opened with ``ngffstore.open_image``."""
        return open_row(self.iloc[i], storage_options=getattr(self, "storage_options", None))

    def images(self) -> Any:
        """Open each hit in turn."""
        for i in range(len(self)):
            yield self.open(i)


def open_row(row: Mapping[str, Any] | pd.Series, *, storage_options: Mapping[str, Any] | None = None) -> Any:
    """Open the image a search row describes (``row["url"]``)."""
    from ..image.read import open_image  # written alongside; imported when first needed

    return open_image(row["url"], storage_options=storage_options)


def search(
    root_url: Any,
    where: str | None = None,
    *,
    columns: Sequence[str] | str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> SearchResult:
    """Find the images and plate fields of the collection at ``root_url`` that match ``where``.

    Parameters
    ----------
    where
        An expression such as ``'channel == "DAPI" and strain == "BY4741"'`` (None: all rows).
    columns
        Columns to return (always with ``path`` and ``url``); default all.
    limit
        Return at most this many rows.

    Returns
    -------
    SearchResult
        A pandas DataFrame whose rows open as images: ``result.open(0)``. ``result.status``
        tells whether the index had to fold in changes not yet compacted.

    Raises
    ------
    ExpressionError
        Malformed expression (the message gives the column).
    UnknownColumnError
        A column the index lacks (the message lists those it has).
    IndexNotFoundError
        No index at ``root_url`` (build it with :func:`ngffstore.index.build_index`).
    """
    expression = parse_expression(where) if where and where.strip() else None
    root = Location.parse(root_url, storage_options)
    table, status = load_index(root)
    if expression is not None:
        table = table.filter(evaluate(expression, table))
    if limit is not None:
        table = table.slice(0, max(0, int(limit)))
    if columns is not None:
        if isinstance(columns, str):
            columns = [c.strip() for c in columns.split(",") if c.strip()]
        picked = ["path"] + [resolve_column(c, table.column_names) for c in columns]
        table = table.select(list(dict.fromkeys(picked)))
    paths = table.column("path")
    for path in pc.unique(paths).to_pylist():  # the index is untrusted input like any document
        if path != "":
            check_relative_path(path, document=root.child(INDEX_FILE).url, what="image path in index row")
    base = root.url.rstrip("/")
    urls = pc.if_else(
        pc.equal(paths, ""), pa.scalar(root.url), pc.binary_join_element_wise(base, paths, "/")
    )
    table = table.add_column(1, "url", urls)
    # Arrow-backed columns: no copy per cell, and integers with gaps stay integers
    frame = table.to_pandas(use_threads=False, types_mapper=pd.ArrowDtype)
    result = SearchResult(frame, copy=False)
    result.root = root.url
    result.storage_options = dict(root.storage_options)
    result.status = status
    return result



# ---------------------------------------------------------------------------------------------
# search as text (``ngffstore search``)
# ---------------------------------------------------------------------------------------------
FORMATS = ("table", "csv", "json")


def _cell(value: Any, sep: str) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, list):
        return sep.join(str(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    import math

    if hasattr(value, "isoformat"):
        return None if str(value) == "NaT" else value.isoformat()
    if hasattr(value, "tolist") and not isinstance(value, str):
        return value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclass(frozen=True, eq=False)
class SearchReport:
    """:func:`search_report`'s answer: the hits, rendered as text, and what to tell about them."""

    root: str
    result: SearchResult
    format: str
    output: str  # the hits as a table, CSV or JSON text ("" for an empty table)
    warnings: tuple[str, ...] = ()

    @property
    def matches(self) -> int:
        return int(self.result.shape[0])

    def notes(self) -> list[str]:
        """The count of hits, the warnings, and a note when the index lags the store."""
        lines = [f"{self.matches} match(es)"]
        lines += [f"warning: {w}" for w in self.warnings]
        status = self.result.status
        if status is not None and status.pending:
            lines.append(
                f"note: {status.pending_changes} change(s) made since the index was written were read "
                f"from the store; run 'ngffstore index {self.root}' to fold them in"
            )
        return lines


def search_report(
    root_url: Any,
    where: str | None = None,
    *,
    columns: Sequence[str] | str | None = None,
    format: str = "table",
    storage_options: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> SearchReport:
    """:func:`search`, rendered as text: ``format`` ``table`` (lists joined by ``", "``, no
    ``url`` column), ``csv`` (lists joined by ``;``) or ``json`` (records; dates ISO, NaN null).

    ``columns`` (a list or comma-separated text) defaults to :data:`DEFAULT_COLUMNS` plus the
    columns ``where`` uses, or every column for JSON. The user warnings the search raised
    (e.g. a stale index row) are collected in :attr:`SearchReport.warnings`, not emitted.
    """
    import json
    import warnings

    if format not in FORMATS:
        raise ValidationError(f"unknown search output format {format!r}: use one of {', '.join(FORMATS)}")
    picked: list[str] | None
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if columns is not None:
        picked = list(columns)
    elif format == "json":
        picked = None
    else:
        picked = list(DEFAULT_COLUMNS[1:])
        if where and where.strip():
            picked += [c.name for c in parse_expression(where).columns]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = search(root_url, where, columns=picked, storage_options=storage_options, limit=limit)
    frame = result.loc[:, ~result.columns.duplicated()]
    if format == "json":
        records = [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
        output = json.dumps(records, indent=2, default=str) + "\n"
    elif format == "csv":
        output = frame.apply(lambda col: col.map(lambda v: _cell(v, ";"))).to_csv(index=False)
    elif len(frame):
        shown = frame.drop(columns=["url"]).apply(lambda col: col.map(lambda v: _cell(v, ", ")))
        output = shown.to_string(index=False, na_rep="-") + "\n"
    else:
        output = ""
    told = tuple(str(w.message) for w in caught if issubclass(w.category, UserWarning))  # not e.g. a ResourceWarning
    return SearchReport(root=str(root_url), result=result, format=format, output=output, warnings=told)


class Collection:
    """A collection root with an index, opened with :func:`open_collection`: search it, open
    its images, see whether the index is current. Picklable (URL and storage options)."""

    def __init__(self, root: Location, status: Any):
        self._root = root
        self.status = status

    @property
    def url(self) -> str:
        return self._root.url

    @property
    def storage_options(self) -> dict[str, Any]:
        return dict(self._root.storage_options)

    def __len__(self) -> int:
        """Rows of the index as stored (images and plate fields)."""
        return int(self.status.rows)

    def __repr__(self) -> str:
        return f"<Collection {self.url}: {len(self)} rows>"

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "storage_options": self.storage_options, "status": self.status}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._root = Location.parse(state["url"], state["storage_options"])
        self.status = state["status"]

    def search(
        self, where: str | None = None, *, columns: Sequence[str] | str | None = None, limit: int | None = None
    ) -> SearchResult:
        """:func:`search` in this collection."""
        return search(self._root, where, columns=columns, limit=limit)

    def open(self, path: str) -> Any:
        """The image at ``path`` below the root (a path of the index), opened."""
        from ..image.read import open_image

        check_relative_path(path, document=self._root.child(INDEX_FILE).url, what="image path")
        return open_image(self._root.child(path) if path else self._root)


def open_collection(url: Any, *, storage_options: Mapping[str, Any] | None = None) -> Collection:
    """Open the collection (a folder or prefix with an index) at ``url``.

    Reads the index file and lists its journal once; ``collection.status`` says whether the
    index lacks changes (they are folded in by :meth:`Collection.search`).

    Raises
    ------
    IndexNotFoundError
        No index at ``url`` (build it with ``ngffstore index URL``).
    """
    root = Location.parse(url, storage_options)
    status = index_status(root)
    if not status.exists:
        raise IndexNotFoundError(f"no collection index at {root.url}: {build_hint(root)}")
    return Collection(root, status)


__all__ = [
    "DEFAULT_COLUMNS",
    "Collection",
    "Expression",
    "ExpressionError",
    "SearchReport",
    "SearchResult",
    "UnknownColumnError",
    "column_kinds",
    "evaluate",
    "open_collection",
    "open_row",
    "parse_expression",
    "resolve_column",
    "search",
    "search_report",
    "tokenize",
]
