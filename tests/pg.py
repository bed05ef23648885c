"""A fresh PostgreSQL schema per test or benchmark run: connections of the URL it gives use only that schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote


def schema_url(base: str, schema: str) -> str:
    """Return `base` with its connections' search_path set to `schema` (and named after it, so that the
    teardown can end connections a test left behind: a killed process's, or one cut off by a fault proxy)."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}&application_name={schema}"


@contextmanager
def fresh_schema(base_url: str, prefix: str = "t") -> Iterator[str]:
    """Create an empty schema, yield a URL that uses it, drop it afterwards."""
    import sqlalchemy as sa

    from connector.store.db import normalize_url

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalize_url(base_url))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema_url(base_url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = :name AND pid <> pg_backend_pid()"), {"name": schema})
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
