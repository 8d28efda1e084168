"""The PostgreSQL schema objects of tables, to check that what a bulk load dropped came back."""

from __future__ import annotations

from django.db import connection


def pg_schema(tables: list[str]) -> tuple[list, list]:
    """(indexes, constraints) of `tables` with their definitions, sorted."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, i.relname, pg_get_indexdef(i.oid)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
            WHERE c.relname = ANY(%s) ORDER BY 1, 2
            """,
            [tables],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            """
            SELECT c.relname, k.conname, pg_get_constraintdef(k.oid), k.convalidated, k.condeferrable
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
            WHERE c.relname = ANY(%s) ORDER BY 1, 2
            """,
            [tables],
        )
        return indexes, cursor.fetchall()
