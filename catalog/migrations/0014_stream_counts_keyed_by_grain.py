"""The four largest stream count tables are keyed by their grain's columns.

Their identity column and its index went: each row the daily refresh inserts, and each
month row it updates, then goes through one index less (the per-track-country table's
writes took a third less time at 10M events). Django cannot change a table's primary
key to a composite one in place, so the tables are made anew, empty; the content
rollups' watermark goes with their rows, so the next `refresh_rollups` rebuilds them.
"""

import django.db.models.deletion
from django.db import migrations, models


def forget_content_watermark(apps, schema_editor):
    apps.get_model("catalog", "ContentRollupWatermark").objects.using(schema_editor.connection.alias).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0013_track_country_streams_without_track_index"),
    ]

    operations = [
        migrations.DeleteModel(name="TrackStreams"),
        migrations.DeleteModel(name="TrackCountryStreams"),
        migrations.DeleteModel(name="ArtistStreams"),
        migrations.DeleteModel(name="AlbumStreams"),
        migrations.CreateModel(
            name="TrackStreams",
            fields=[
                ("grain", models.CharField(choices=[("day", "Day"), ("month", "Month")], max_length=5)),
                ("period", models.DateField(help_text="The day, or the first day of the month.")),
                ("streams", models.PositiveIntegerField()),
                (
                    "track",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="catalog.track",
                    ),
                ),
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "period",
                        "track",
                        "grain",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "track streams",
                "indexes": [
                    models.Index(
                        condition=models.Q(("grain", "month")),
                        fields=["period", "-streams", "track"],
                        name="trackstreams_top",
                    )
                ],
                "constraints": [],
            },
        ),
        migrations.CreateModel(
            name="TrackCountryStreams",
            fields=[
                ("grain", models.CharField(choices=[("day", "Day"), ("month", "Month")], max_length=5)),
                ("period", models.DateField(help_text="The day, or the first day of the month.")),
                ("streams", models.PositiveIntegerField()),
                ("country", models.CharField(max_length=2)),
                (
                    "track",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="catalog.track",
                    ),
                ),
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "period",
                        "country",
                        "track",
                        "grain",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "track streams by country",
                "indexes": [
                    models.Index(
                        condition=models.Q(("grain", "month")),
                        fields=["country", "period", "-streams"],
                        name="trackcountrystreams_top",
                    )
                ],
                "constraints": [],
            },
        ),
        migrations.CreateModel(
            name="ArtistStreams",
            fields=[
                ("grain", models.CharField(choices=[("day", "Day"), ("month", "Month")], max_length=5)),
                ("period", models.DateField(help_text="The day, or the first day of the month.")),
                ("streams", models.PositiveIntegerField()),
                (
                    "artist",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="catalog.artist",
                    ),
                ),
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "period",
                        "artist",
                        "grain",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "artist streams",
                "indexes": [
                    models.Index(
                        condition=models.Q(("grain", "month")),
                        fields=["period", "-streams", "artist"],
                        name="artiststreams_top",
                    )
                ],
                "constraints": [],
            },
        ),
        migrations.CreateModel(
            name="AlbumStreams",
            fields=[
                ("grain", models.CharField(choices=[("day", "Day"), ("month", "Month")], max_length=5)),
                ("period", models.DateField(help_text="The day, or the first day of the month.")),
                ("streams", models.PositiveIntegerField()),
                (
                    "album",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="catalog.album",
                    ),
                ),
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "period",
                        "album",
                        "grain",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "album streams",
                "indexes": [
                    models.Index(
                        condition=models.Q(("grain", "month")),
                        fields=["period", "-streams", "album"],
                        name="albumstreams_top",
                    )
                ],
                "constraints": [],
            },
        ),
        migrations.RunPython(forget_content_watermark, migrations.RunPython.noop),
    ]
