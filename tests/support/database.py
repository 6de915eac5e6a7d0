"""Databases as a test meets them: what an attacker with a copy would read, and a new empty
database on the test server for a second instance (a fresh one, or one being restored)."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connection


@contextmanager
def empty_database(purpose: str) -> Iterator[str]:
    """A new PostgreSQL database beside the test database (nobody ran `migrate` on it); its
    URL. Dropped afterwards, whoever is still connected."""
    db = settings.DATABASES["default"]
    admin = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres"
    name = f"{db['NAME']}_{purpose}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def dump_database() -> bytes:
    """Every row of every table as text, the way an attacker with a dump would read it."""
    chunks: list[bytes] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes):
                        chunks.append(bytes(value))
                        chunks.append(bytes(value).hex().encode())
                    else:
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)
