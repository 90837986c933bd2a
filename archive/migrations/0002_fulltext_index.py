"""XEP-0431 full-text search on PostgreSQL: a GIN index on the bodies' text search vector,
the expression `archive.actions._fulltext` queries. Other databases get nothing (their
search is a substring scan of one archive)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

INDEX = "archive_body_fts"


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON archive_archivedmessage "
                              "USING gin (to_tsvector('simple', body))")


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("archive", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
