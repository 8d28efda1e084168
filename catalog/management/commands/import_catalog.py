"""Import a catalog file too big for a browser upload, all or nothing."""

from __future__ import annotations

import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.resources import AlbumResource, ArtistResource, EpisodeResource, PodcastResource, TrackResource
from spotilytics.importing.reading import CSV, ENCODINGS, XLSX
from spotilytics.importing.runner import CHUNK_SIZE, import_file
from spotilytics.models import ImportSource

RESOURCES = {
    "tracks": TrackResource,
    "artists": ArtistResource,
    "albums": AlbumResource,
    "podcasts": PodcastResource,
    "episodes": EpisodeResource,
}
_BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Import a CSV or XLSX catalog file (our export, the Spotify Tracks Dataset or another "
        "known layout) with the same validation as the admin: if any row has a problem, "
        "nothing is written, every problem is printed and the command exits with status 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of the CSV or XLSX file to import.")
        parser.add_argument(
            "--format",
            choices=[CSV, XLSX],
            default="",
            help="File format; detected from the file's content when omitted.",
        )
        parser.add_argument(
            "--encoding",
            choices=[name for name in ENCODINGS if name],
            default="",
            help="Text encoding of a CSV file; detected (UTF-8 with or without BOM, "
            "Windows-1252, Latin-1) when omitted.",
        )
        parser.add_argument(
            "--model",
            choices=sorted(RESOURCES),
            default="tracks",
            help="What the rows are (default: tracks).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate every row and count what would change; write nothing.",
        )
        parser.add_argument(
            "--default-duration-ms",
            type=int,
            default=None,
            help="Tracks only: the duration of every track the file gives none (for "
            "layouts without a duration column).",
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=CHUNK_SIZE,
            help=f"Rows imported per step, between progress updates (default {CHUNK_SIZE}).",
        )

    def handle(self, *args, file: str, **options) -> None:
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"There is no file at {file}.")
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        resource_class = RESOURCES[options["model"]]
        resource_kwargs = {}
        if options["default_duration_ms"] is not None:
            if options["model"] != "tracks" or options["default_duration_ms"] < 1:
                raise CommandError("--default-duration-ms takes a positive number of ms, for tracks only.")
            resource_kwargs["default_duration_ms"] = options["default_duration_ms"]

        outcome = import_file(
            resource_class=resource_class,
            data=path.read_bytes(),
            file_name=path.name,
            source=ImportSource.COMMAND,
            username=_os_user(),
            file_format=options["format"],
            encoding=options["encoding"],
            dry_run=options["dry_run"],
            chunk_size=options["chunk_size"],
            resource_kwargs=resource_kwargs,
            on_progress=self._progress if options["verbosity"] > 0 else None,
        )
        if outcome.ignored_columns and options["verbosity"] > 0:
            self.stdout.write(f"Columns not imported: {', '.join(outcome.ignored_columns)}")
        for problem in outcome.problems:
            self.stderr.write(str(problem))
        if outcome.unlisted_problems:
            self.stderr.write(f"... and {outcome.unlisted_problems} more problems.")
        if not outcome.ok:
            raise CommandError(outcome.summary())
        prefix = "Dry run, nothing written. " if outcome.dry_run else ""
        self.stdout.write(self.style.SUCCESS(prefix + outcome.summary()))

    def _progress(self, done: int, total: int) -> None:
        filled = _BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        ending = "\n" if done >= total else ""
        self.stderr.write(f"\r[{bar}] {done:,}/{total:,} rows", ending=ending)
        self.stderr.flush()


def _os_user() -> str:
    try:
        return f"{getpass.getuser()} (shell)"
    except (KeyError, OSError):
        return "shell"
