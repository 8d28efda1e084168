"""`manage.py import_catalog`: chunked, all or nothing, a summary, non-zero exit on bad rows."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from catalog.models import Album, Artist, Genre, Podcast, Track
from spotilytics.models import ImportLog, ImportSource, ImportStatus

pytestmark = pytest.mark.django_db

HEADER = "track_id,artists,album_name,track_name,popularity,duration_ms,explicit,loudness,track_genre\n"


def _tracks(count: int) -> str:
    return "".join(
        f"id{n:05d},Artist {n % 7};Guest {n % 3},Album {n % 11},Song {n},{n % 100},"
        f"{180_000 + n},False,-{n % 9}.5,genre-{n % 5}\n"
        for n in range(count)
    )


def _run(path, *args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_catalog", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_catalog_imports_in_chunks_with_progress_and_a_summary(tmp_path):
    path = tmp_path / "tracks.csv"
    path.write_text(HEADER + _tracks(250))

    out, err = _run(path, "--chunk-size", "100")

    assert Track.objects.count() == 250
    assert (Artist.objects.count(), Album.objects.count(), Genre.objects.count()) == (10, 11 * 7, 5)
    assert "250 row(s) read: 250 were created, 0 updated, 0 skipped" in out
    assert "[" in err and "250/250 rows" in err
    log = ImportLog.objects.get()
    assert (log.source, log.status, log.rows, log.created, log.model) == (
        ImportSource.COMMAND,
        ImportStatus.SUCCEEDED,
        250,
        250,
        "catalog.track",
    )


def test_import_catalog_twice_creates_nothing_new(tmp_path):
    path = tmp_path / "tracks.csv"
    path.write_text(HEADER + _tracks(30))
    _run(path)

    out, _ = _run(path)

    assert "0 were created, 0 updated, 30 skipped" in out
    assert Track.objects.count() == 30


def test_import_catalog_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "tracks.csv"
    path.write_text(HEADER + _tracks(20))

    out, _ = _run(path, "--dry-run")

    assert "Dry run, nothing written. 20 row(s) read: 20 would be created" in out
    assert Track.objects.count() == Artist.objects.count() == Album.objects.count() == 0
    assert ImportLog.objects.get().dry_run is True


def test_import_catalog_with_a_bad_row_prints_every_problem_writes_nothing_and_fails(tmp_path):
    rows = _tracks(300).splitlines(keepends=True)
    rows[0] = rows[0].replace(",180000,", ",three minutes,")
    rows[299] = rows[299].replace("id00299,", "id00150,")
    path = tmp_path / "tracks.csv"
    path.write_text(HEADER + "".join(rows))

    with pytest.raises(CommandError, match=r"Nothing was imported: 2 problem\(s\) in 300 row\(s\)") as raised:
        _run(path, "--chunk-size", "50")

    assert Track.objects.count() == Artist.objects.count() == Genre.objects.count() == 0
    log = ImportLog.objects.get()
    assert (log.status, log.errors, log.created) == (ImportStatus.FAILED, 2, 0)
    assert "Line 2, column 'duration_ms': 'three minutes' is not a number" in log.problems
    assert "Line 301, column 'track_id': 'id00150' is already used on line 152" in log.problems
    assert raised.value.returncode == 1


def test_import_catalog_prints_problems_on_stderr(tmp_path):
    path = tmp_path / "tracks.csv"
    path.write_text(HEADER + "x1,Someone,Album,Song,101,200000,False,-3,pop\n")
    err = io.StringIO()

    with pytest.raises(CommandError):
        call_command("import_catalog", str(path), stdout=io.StringIO(), stderr=err)

    assert "Line 2, column 'popularity': ensure this value is less than or equal to 100" in err.getvalue()


def test_import_catalog_reads_xlsx_and_other_models(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["title", "host", "category"])
    book.active.append(["Morning News", "Ana", "News"])
    path = tmp_path / "podcasts.xlsx"
    book.save(path)

    out, _ = _run(path, "--model", "podcasts", "--format", "xlsx")

    assert "1 were created" in out
    assert Podcast.objects.get().host == "Ana"


def test_import_catalog_honours_the_encoding_option(tmp_path):
    path = tmp_path / "tracks.csv"
    path.write_bytes((HEADER + "x1,Zoë,Café,Déjà vu,5,200000,False,-3,chanson\n").encode("latin-1"))

    _run(path, "--encoding", "latin-1")

    assert Track.objects.get().title == "Déjà vu"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/file.csv"], "There is no file at /no/such/file.csv"),
        (["{path}", "--chunk-size", "0"], "--chunk-size must be at least 1"),
        (["{path}", "--model", "podcasts", "--default-duration-ms", "1000"], "for tracks only"),
    ],
)
def test_import_catalog_refuses_bad_options(tmp_path, args, message):
    path = tmp_path / "t.csv"
    path.write_text(HEADER)
    args = [arg.format(path=path) for arg in args]

    with pytest.raises(CommandError, match=message):
        call_command("import_catalog", *args, stdout=io.StringIO(), stderr=io.StringIO())
