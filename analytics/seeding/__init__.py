"""Deterministic, realistic data for every table the KPIs read, at any scale.

`manage.py seed` is the entry point and `runner.seed_database` runs the phases. One module
per concern generates numpy columns: `catalog`, `listeners` (and their monthly activity),
`experiments`, `billing`, `social` (playlists, follows, ratings) and `events`; `loading`
writes them (binary COPY on PostgreSQL, executemany on SQLite); `config` holds the
presets, `timeline` the period in epoch seconds, `progress` the bars and timings.
"""
