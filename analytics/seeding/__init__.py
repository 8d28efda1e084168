"""Deterministic, realistic data for every table the KPIs read, at any scale.

`manage.py seed` is the entry point; `runner.seed_database` runs the phases. Each module
generates one concern as numpy columns (catalog, listeners, experiments, billing, social,
events) and `loading` writes them with COPY (PostgreSQL) or executemany (SQLite).
"""
