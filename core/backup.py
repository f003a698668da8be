"""Backups: `flask backup PATH` and `flask restore PATH --yes`, on the app's own database.

- **SQLite**: SQLite's online backup API (`sqlite3.Connection.backup`) copies the database
  page by page while the app runs — web requests and workers go on writing; the copy is one
  consistent snapshot (a write transaction open meanwhile is not in it). It is written to a
  temporary file beside PATH and renamed, so PATH is a whole backup or nothing. A restore
  copies the backup into the live database file the same way, under SQLite's lock.
- **PostgreSQL**: `pg_dump --format=custom` (a consistent snapshot, online) and
  `pg_restore --clean --if-exists --no-owner --single-transaction` (all or nothing). The
  password goes to the tools in PGPASSWORD, never on a command line.

A backup never overwrites a file; a restore replaces every row of the database and so
refuses without `--yes`. A restore is for a stopped app (stop web and worker processes, restore,
`flask db upgrade`, start them): PostgreSQL's restore waits for the locks of running ones.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import URL, make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """What went wrong, in words for the operator (the CLI prints it)."""


@dataclass(frozen=True)
class Database:
    url: URL

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def sqlite_path(self) -> Path:
        name = self.url.database or ""
        if not name or name == ":memory:" or name.startswith("file:"):
            raise BackupError("an in-memory SQLite database has nothing to back up")
        return Path(name)


def database_of(uri: str) -> Database:
    db = Database(make_url(uri))
    if db.dialect not in ("sqlite", "postgresql"):
        raise BackupError(f"backups know SQLite and PostgreSQL, not {db.dialect}")
    return db


# ------------------------------------------------------------------ backup

def backup(uri: str, target: str | os.PathLike[str]) -> Path:
    """Write a backup of the database at `uri` to `target` (a new file). Returns its path."""
    db = database_of(uri)
    path = Path(target).expanduser()
    if path.exists():
        raise BackupError(f"{path} exists already; a backup never overwrites a file (choose another path)")
    if not path.parent.is_dir():
        raise BackupError(f"no folder {path.parent} to write {path.name} into")
    if db.dialect == "sqlite":
        _sqlite_backup(db.sqlite_path, path)
    else:
        _pg_dump(db.url, path)
    return path


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no database file at {source}")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        src = sqlite3.connect(source, timeout=30)  # read only by use: a read-only open of a WAL file can fail
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # the online backup API: one consistent snapshot, writers carry on
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file, no -wal beside it
        finally:
            dst.close()
            src.close()
        os.chmod(tmp, 0o600)  # it holds customers' data
        os.replace(tmp, target)
    except sqlite3.Error as err:
        raise BackupError(f"SQLite backup failed: {err}") from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def _pg_args(url: URL) -> tuple[list[str], dict[str, str]]:
    """libpq connection options for pg_dump/pg_restore, and an environment with the password."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = []
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    for key, value in url.query.items():  # sslmode=require and the like
        env[f"PG{key.upper()}"] = value if isinstance(value, str) else value[-1]
    args += ["--dbname", url.database or "postgres", "--no-password"]
    return args, env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    except OSError as err:
        raise BackupError(f"{what} could not start: {err}") from err
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: " + (" ".join(detail[-3:]) if detail else f"exit {done.returncode}"))


def _pg_dump(url: URL, target: Path) -> None:
    args, env = _pg_args(url)
    tmp = target.with_name(f".{target.name}.part")
    try:
        _run([_pg_tool("pg_dump"), "--format=custom", "--file", str(tmp), *args], env, "pg_dump")
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


# ------------------------------------------------------------------ restore

def check_backup(uri: str, source: str | os.PathLike[str]) -> Path:
    """The backup file, if it is one this database can restore; else BackupError saying why."""
    db = database_of(uri)
    path = Path(source).expanduser()
    if not path.exists():
        raise BackupError(f"no backup at {path}")
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if db.dialect == "sqlite" and not head.startswith(SQLITE_MAGIC):
        kind = "a pg_dump archive" if head.startswith(PGDUMP_MAGIC) else "not a SQLite database"
        raise BackupError(f"{path} is {kind}; this app's database is SQLite")
    if db.dialect == "postgresql" and not head.startswith(PGDUMP_MAGIC):
        kind = "a SQLite database" if head.startswith(SQLITE_MAGIC) else "not a pg_dump custom-format archive"
        raise BackupError(f"{path} is {kind}; this app's database is PostgreSQL")
    return path


def restore(uri: str, source: str | os.PathLike[str]) -> Path:
    """Replace the database at `uri` with the backup at `source` (check_backup first)."""
    db = database_of(uri)
    path = check_backup(uri, source)
    if db.dialect == "sqlite":
        _sqlite_restore(path, db.sqlite_path)
    else:
        args, env = _pg_args(db.url)
        _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--exit-on-error", *args, str(path)], env, "pg_restore")
    return path


def _sqlite_restore(source: Path, target: Path) -> None:
    if not target.parent.is_dir():
        raise BackupError(f"no folder {target.parent} for the database")
    try:
        src = sqlite3.connect(source)
        try:
            ok = src.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise BackupError(f"{source} is damaged: {ok}")
            dst = sqlite3.connect(target, timeout=30)
            try:
                src.backup(dst)  # page by page under the destination's lock; every connection sees it after
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.DatabaseError as err:
        raise BackupError(f"SQLite restore failed: {err}") from err


# ------------------------------------------------------------------ the commands

@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False))
def backup_command(path: str) -> None:
    """Back up the database to PATH (a new file), while the app runs."""
    uri = current_app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        done = backup(uri, path)
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"backed up {_name(uri)} to {done} ({done.stat().st_size:,} bytes)")


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Replace every row of the database without asking.")
def restore_command(path: str, yes: bool) -> None:
    """Replace the database with the backup at PATH (stop the web and worker processes first)."""
    from core.extensions import db

    uri = current_app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        check_backup(uri, path)
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    if not yes:
        raise click.ClickException(f"restoring replaces every row of {_name(uri)}; run again with --yes to do it")
    db.session.remove()
    db.engine.dispose()  # this process's connections hold no lock while the restore runs
    try:
        restore(uri, path)
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    finally:
        db.engine.dispose()  # and none serves a page of the old database afterwards
    click.echo(f"restored {_name(uri)} from {path}; now run `flask db upgrade` if the backup is older than the code")


def _name(uri: str) -> str:
    return make_url(uri).render_as_string(hide_password=True)
