"""Header aliases: the columns of public catalog layouts mapped to a resource's columns.

Headers match case- and punctuation-insensitively (`Artist(s) Name` = `artist(s)_name`
= `artistsname`). A trailing `%` marks a 0-100 percentage that is scaled to 0-1. The
exact column names of a resource always win over aliases, so an export imports back
unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

PERCENT = "percent"  # 0-100 in the file, 0-1 in the database
SECONDS = "seconds"  # seconds in the file, milliseconds in the database
COMMA_LIST = "comma_list"  # "A, B" in the file, "A;B" for the resource

_NOT_KEY = re.compile(r"[^a-z0-9%]")


@dataclass(frozen=True)
class Alias:
    column: str
    scale: str | None = None


def normalize(header: Any) -> str:
    return _NOT_KEY.sub("", str(header or "").lower())


@dataclass
class HeaderMap:
    """Which file column feeds which resource column, and how its values are scaled."""

    indexes: dict[str, int] = field(default_factory=dict)
    scales: dict[str, str] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # resource column -> header in the file
    ignored: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return list(self.indexes)

    def file_column(self, column: str | None) -> str | None:
        """The header as written in the file, for messages; the column name otherwise."""
        if column is None:
            return None
        return self.source.get(column, column)

    def apply(self, cells: list[Any]) -> list[Any]:
        """The row's values in `columns` order, scaled. Unparseable values pass through
        unchanged so the resource reports them with the column's own message."""
        values = []
        for column, index in self.indexes.items():
            value = cells[index] if index < len(cells) else None
            scale = self.scales.get(column)
            if scale and value not in (None, ""):
                value = _rescale(value, scale)
            values.append(value)
        return values


def map_headers(headers: list[str], columns: list[str], aliases: dict[str, Alias]) -> HeaderMap:
    exact = {normalize(column): column for column in columns}
    mapped = HeaderMap()
    pending: list[tuple[int, str, str, bool]] = []
    for index, header in enumerate(headers):
        key = normalize(header)
        if not key or re.fullmatch(r"unnamed\d*", key) or key == "index":
            continue  # a spreadsheet's or pandas' row-number column
        percent = key.endswith("%")
        key = key.rstrip("%")
        if key in exact and exact[key] not in mapped.indexes:
            _add(mapped, exact[key], index, header, PERCENT if percent else None)
        else:
            pending.append((index, header, key, percent))
    for index, header, key, percent in pending:
        alias = aliases.get(key)
        if alias is None or alias.column in mapped.indexes:
            mapped.ignored.append(header)
            continue
        _add(mapped, alias.column, index, header, PERCENT if percent else alias.scale)
    # Keep the resource's column order: messages and previews read in a stable order.
    order = {column: position for position, column in enumerate(columns)}
    mapped.indexes = dict(sorted(mapped.indexes.items(), key=lambda item: order.get(item[0], len(order))))
    return mapped


def _add(mapped: HeaderMap, column: str, index: int, header: str, scale: str | None) -> None:
    mapped.indexes[column] = index
    mapped.source[column] = header
    if scale:
        mapped.scales[column] = scale


def _rescale(value: Any, scale: str) -> Any:
    if scale == COMMA_LIST:
        text = str(value)
        return text if ";" in text else ";".join(part.strip() for part in text.split(","))
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return value
    if not number.is_finite():
        return value
    if scale == PERCENT:
        return format(number / 100, "f")
    if scale == SECONDS:
        return format((number * 1000).quantize(Decimal(1)), "f")
    return value
