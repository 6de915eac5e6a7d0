"""One consistent snapshot of the database to a file, and back: `pg_dump`/`pg_restore` for
PostgreSQL (one transaction snapshot), SQLite's online backup API for the embedded default.

Used by `manage.py backup` and `manage.py restore` (apps/adminpanel/backup.py). Connection
details go to the PostgreSQL tools through the environment, never on a command line where
`ps` would show the password.
"""

import contextlib
import os
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction


class DatabaseDumpError(Exception):
    """The database could not be read or written; the message says why (no secret in it)."""


POSTGRESQL = "postgresql"
SQLITE = "sqlite"
CONNECT_TIMEOUT_SECONDS = 10


def _database() -> dict[str, Any]:
    return dict(settings.DATABASES["default"])


def engine() -> str:
    """`postgresql` or `sqlite`: the two engines Talkee runs on."""
    name = str(_database()["ENGINE"])
    if name == "django.db.backends.postgresql":
        return POSTGRESQL
    if name == "django.db.backends.sqlite3":
        return SQLITE
    raise DatabaseDumpError(f"the database engine {name} is not one backup knows (PostgreSQL or SQLite)")


def describe() -> str:
    """Which database, for messages: engine, host, port and name; never the password."""
    db = _database()
    if engine() == SQLITE:
        return f"SQLite database {db['NAME']}"
    return f"PostgreSQL database {db['NAME']} at {db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"


def _pg_environment() -> dict[str, str]:
    db = _database()
    environ = dict(os.environ)
    values = {
        "PGHOST": db.get("HOST"),
        "PGPORT": db.get("PORT"),
        "PGUSER": db.get("USER"),
        "PGPASSWORD": db.get("PASSWORD"),
        "PGDATABASE": db.get("NAME"),
        "PGSSLMODE": db.get("OPTIONS", {}).get("sslmode"),
        "PGCONNECT_TIMEOUT": str(CONNECT_TIMEOUT_SECONDS),
    }
    environ.update({key: str(value) for key, value in values.items() if value})
    return environ


def _tool_failed(tool: str, stderr: bytes) -> DatabaseDumpError:
    # The tools name the host, port, database and user, never the password.
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    detail = " / ".join(lines[-4:]) or "no message"
    return DatabaseDumpError(f"{tool} failed on the {describe()}: {detail}")


def _run_tool(arguments: list[str], feed: IO[bytes] | None = None) -> None:
    """Run a PostgreSQL client tool; `feed` (a readable stream) goes to its standard input."""
    with tempfile.TemporaryFile() as stderr:
        try:
            # A fixed tool name and options; connection details travel in the environment.
            process = subprocess.Popen(  # noqa: S603
                arguments,
                stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=_pg_environment(),
            )
        except FileNotFoundError:
            raise DatabaseDumpError(
                f"{arguments[0]} is not installed (PostgreSQL's client tools, package postgresql-client, "
                "of the server's major version or newer)"
            ) from None
        try:
            if feed is not None:
                _feed(process, feed)
            status = process.wait()
        except BaseException:
            # Interrupted (SIGTERM, Ctrl-C) or the archive could not be read: the tool stops too.
            process.kill()
            process.wait()
            raise
        if status != 0:
            stderr.seek(0)
            raise _tool_failed(arguments[0], stderr.read())


def _feed(process: subprocess.Popen[bytes], feed: IO[bytes]) -> None:
    assert process.stdin is not None
    try:
        while piece := feed.read(1024 * 1024):
            process.stdin.write(piece)
    except BrokenPipeError:
        pass  # the tool stopped reading: its exit status and message say why
    finally:
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()


def dump_to(path: Path) -> None:
    """Write one consistent snapshot of the whole database to `path` (a new file)."""
    if engine() == POSTGRESQL:
        # Custom format: compressed, and what pg_restore reads; one snapshot for every table.
        _run_tool(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={path}"])
        return
    source_path = Path(str(_database()["NAME"]))
    if not source_path.is_file():
        raise DatabaseDumpError(f"the {describe()} does not exist")
    # The online backup API copies a consistent state even while the server writes.
    _sqlite_copy(source_path, Path(path), "reading", source_timeout=CONNECT_TIMEOUT_SECONDS)


def data_in_the_way() -> str:
    """Why restoring over this database would destroy something ("" when it would not):
    it has accounts (local or remote users: any instance that was used has some), or
    tables no Talkee model owns (DATABASE_URL names some other application's database).
    A database `migrate` has just made, or one without tables, is fine."""
    try:
        with connection.cursor() as cursor:
            tables = set(connection.introspection.table_names(cursor))
            foreign = tables - set(connection.introspection.django_table_names()) - {"django_migrations"}
            if foreign:
                return f"has {len(foreign)} tables that are not Talkee's (such as {sorted(foreign)[0]})"
            users = get_user_model()
            if users._meta.db_table in tables and users.objects.exists():
                return "already holds accounts"
            return ""
    except DatabaseError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatabaseDumpError(f"cannot read the {describe()}: {first_line}") from None
    finally:
        connection.close()


def _drop_every_table() -> None:
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # Tables and views first: the sequences their columns own go with them.
            for relkinds in (["r", "p", "v", "m"], ["S"]):
                cursor.execute(
                    "SELECT c.relkind, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = current_schema() AND c.relkind::text = ANY(%s)",
                    [relkinds],
                )
                for kind, name in cursor.fetchall():
                    # Names from the catalogue, quoted; CASCADE takes the constraints between them.
                    cursor.execute(f"DROP {kinds[kind]} IF EXISTS {connection.ops.quote_name(name)} CASCADE")
    except DatabaseError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatabaseDumpError(f"emptying the {describe()} failed: {first_line}") from None
    finally:
        connection.close()


def load_from(dump: IO[bytes]) -> None:
    """Replace the database's contents with the snapshot read from `dump`.

    PostgreSQL: every table and sequence of the schema is dropped (a fresh instance's, made
    by `migrate` of whatever version, or with --force a used one's), then pg_restore reads
    the dump from its standard input in one transaction; if it fails, the database is left
    empty and the message says why.
    SQLite: the snapshot is copied beside the database file, then onto it with the backup
    API (which replaces the whole file's contents)."""
    connection.close()
    if engine() == POSTGRESQL:
        _drop_every_table()
        _run_tool(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={_database()['NAME']}",
            ],
            feed=dump,
        )
        return
    target_path = Path(str(_database()["NAME"]))
    target_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target_path.parent, prefix=f".{target_path.name}.restoring-") as copy:
        while piece := dump.read(1024 * 1024):
            copy.write(piece)
        copy.flush()
        _sqlite_copy(Path(copy.name), Path(target_path), "writing", target_timeout=CONNECT_TIMEOUT_SECONDS)


def _sqlite_copy(
    source_path: Path, target_path: Path, doing: str, *, source_timeout: float = 5.0, target_timeout: float = 5.0
) -> None:
    """SQLite's backup API from `source_path` (read-only) into `target_path`."""
    try:
        source = sqlite3.connect(f"{source_path.as_uri()}?mode=ro", uri=True, timeout=source_timeout)
        try:
            target = sqlite3.connect(target_path, timeout=target_timeout)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as error:
        raise DatabaseDumpError(f"{doing} the {describe()} failed: {error}") from None
