"""The all-or-nothing import, shared by the admin upload and `manage.py import_catalog`.

The whole file is imported inside one transaction, in chunks. Every row is validated
and written (so later rows see earlier ones: a track can use the artist a previous
line created), and when any row has a problem, or for a dry run, the transaction is
rolled back at the end: nothing is written, and the outcome lists every problem with
its line, column and reason. django-import-export 4.4 rolls back validation errors
only when asked (`rollback_on_validation_errors=True`, which its admin confirm step
does not pass); here a bad row always undoes the lot.

Each attempt is recorded in `ImportLog` after the transaction, whatever the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tablib
from django.db import transaction
from django.utils import timezone

from spotilytics.importing.headers import HeaderMap, map_headers
from spotilytics.importing.problems import (
    Problem,
    constraint_field,
    describe_exception,
    describe_validation_error,
)
from spotilytics.importing.reading import AUTO, FileRefused, read_table
from spotilytics.importing.resources import LINE, SpotilyticsResource
from spotilytics.models import ImportLog, ImportSource, ImportStatus

CHUNK_SIZE = 1000
# Beyond this many, problems are counted but not listed: a file that is wrong in every
# row says so in its first thousands of lines.
MAX_LISTED_PROBLEMS = 10_000
LOGGED_PROBLEMS = 200


@dataclass
class ImportOutcome:
    model_label: str
    file_name: str
    file_format: str = ""
    encoding: str = ""
    dry_run: bool = False
    refused: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    preview: list[tuple[int, str, list[str]]] = field(default_factory=list)
    related_created: dict[str, int] = field(default_factory=dict)
    log: ImportLog | None = None

    @property
    def ok(self) -> bool:
        return not self.refused and self.problem_count == 0

    @property
    def status(self) -> str:
        if self.refused:
            return ImportStatus.REFUSED
        return ImportStatus.SUCCEEDED if self.ok else ImportStatus.FAILED

    @property
    def unlisted_problems(self) -> int:
        return self.problem_count - len(self.problems)

    def add_problem(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(problem)

    def summary(self) -> str:
        verb = "would be" if self.dry_run else "were"
        if self.refused:
            return f"{self.file_name} was refused: {self.problems[0].message if self.problems else ''}"
        if not self.ok:
            return (
                f"Nothing was imported: {self.problem_count} problem(s) in {self.rows} row(s) of "
                f"{self.file_name}. Correct them and import the file again."
            )
        text = (
            f"{self.rows} row(s) read: {self.created} {verb} created, {self.updated} updated, "
            f"{self.skipped} skipped (unchanged or empty)."
        )
        extra = ", ".join(f"{count} {name}" for name, count in self.related_created.items() if count)
        if extra:
            text += f" New along the way: {extra}."
        return text


def import_file(
    *,
    resource_class: type[SpotilyticsResource],
    data: bytes,
    file_name: str,
    source: str = ImportSource.ADMIN,
    user: Any = None,
    username: str = "",
    file_format: str = AUTO,
    encoding: str = AUTO,
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    resource_kwargs: dict[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportOutcome:
    """Import `data` with `resource_class`, entirely or not at all, and log the attempt."""
    model = resource_class._meta.model
    outcome = ImportOutcome(model_label=model._meta.label_lower, file_name=file_name, dry_run=dry_run)
    started_at = timezone.now()
    try:
        table = read_table(data, file_name=file_name, file_format=file_format, encoding=encoding)
    except FileRefused as exc:
        outcome.refused = True
        outcome.file_format = file_format
        outcome.add_problem(Problem(str(exc)))
        outcome.log = _log(outcome, user=user, username=username, source=source, started_at=started_at)
        return outcome

    outcome.file_format = table.file_format
    outcome.encoding = _encoding_label(table.encoding)
    resource = resource_class(**(resource_kwargs or {}))
    header_map = map_headers(table.headers, resource_class.import_columns(), resource_class.aliases)
    outcome.ignored_columns = header_map.ignored
    outcome.columns = [header_map.file_column(column) for column in header_map.columns]
    for problem in resource.header_problems(header_map):
        outcome.add_problem(problem)

    if outcome.ok:
        with transaction.atomic():
            _import_rows(resource, table, header_map, outcome, chunk_size=chunk_size, on_progress=on_progress)
            if dry_run or not outcome.ok:
                transaction.set_rollback(True)
        outcome.preview = resource.preview
        outcome.related_created = dict(resource.related_created())
    if not outcome.ok:
        outcome.created = outcome.updated = outcome.skipped = 0
    outcome.log = _log(outcome, user=user, username=username, source=source, started_at=started_at)
    return outcome


def _import_rows(
    resource: SpotilyticsResource,
    table: Any,
    header_map: HeaderMap,
    outcome: ImportOutcome,
    *,
    chunk_size: int,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    headers = [*header_map.columns, LINE]
    chunk = tablib.Dataset(headers=headers)
    for row in table.rows:
        outcome.rows += 1
        if row.problems:
            # Undecodable or misshapen rows are reported, never handed to the resource.
            for problem in row.problems:
                outcome.add_problem(problem)
            continue
        chunk.append([*header_map.apply(row.cells), row.line])
        if len(chunk) >= chunk_size:
            _import_chunk(resource, chunk, header_map, outcome)
            chunk = tablib.Dataset(headers=headers)
            if on_progress:
                on_progress(outcome.rows, max(table.approximate_rows, outcome.rows))
    if len(chunk):
        _import_chunk(resource, chunk, header_map, outcome)
    if on_progress:
        on_progress(outcome.rows, outcome.rows)


def _import_chunk(
    resource: SpotilyticsResource, chunk: tablib.Dataset, header_map: HeaderMap, outcome: ImportOutcome
) -> None:
    before = outcome.problem_count
    result = resource.import_data(
        chunk, dry_run=False, raise_errors=False, use_transactions=True, rollback_on_validation_errors=True
    )
    outcome.created += result.totals["new"]
    outcome.updated += result.totals["update"]
    outcome.skipped += result.totals["skip"]

    def line_of(number: int) -> int:
        return chunk[number - 1][-1]

    for error in result.base_errors:
        outcome.add_problem(Problem(describe_exception(error.error)))
    for invalid in result.invalid_rows:
        for column, message in describe_validation_error(invalid.error, column_of=resource.column_of):
            outcome.add_problem(
                Problem(message, line=line_of(invalid.number), column=header_map.file_column(column))
            )
    for error_row in result.error_rows:
        for error in error_row.errors:
            field_name = constraint_field(error.error)
            column = header_map.file_column(resource.column_of(field_name)) if field_name else None
            outcome.add_problem(
                Problem(describe_exception(error.error), line=line_of(error_row.number), column=column)
            )
    if outcome.problem_count > before:
        # The chunk's savepoint was rolled back: objects it created are gone.
        resource.reset_caches()


def _encoding_label(encoding: str | None) -> str:
    return {"utf-8-sig": "utf-8 (BOM)"}.get(encoding or "", encoding or "")


def _log(outcome: ImportOutcome, *, user: Any, username: str, source: str, started_at: Any) -> ImportLog:
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    return ImportLog.objects.create(
        started_at=started_at,
        finished_at=timezone.now(),
        user=user if authenticated else None,
        username=user.get_username() if authenticated else username,
        source=source,
        model=outcome.model_label,
        file_name=outcome.file_name[:255],
        file_format=outcome.file_format or "",
        encoding=outcome.encoding,
        dry_run=outcome.dry_run,
        status=outcome.status,
        rows=outcome.rows,
        created=outcome.created,
        updated=outcome.updated,
        skipped=outcome.skipped,
        errors=outcome.problem_count,
        problems="\n".join(str(problem) for problem in outcome.problems[:LOGGED_PROBLEMS]),
    )
