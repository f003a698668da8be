"""`flask backup` and `flask restore` (core/backup.py): a round trip on the test's own database —
SQLite's online backup API, or real pg_dump/pg_restore — compared table by table."""
from __future__ import annotations

import hashlib
import shutil

import pytest
import sqlalchemy as sa

from core.extensions import db
from testsupport import USE_POSTGRES, stock_technician_van

LEDGER = "inventory_stock_moves"


def snapshot(app) -> tuple[dict[str, int], str]:
    """Every table's row count, and a checksum of the stock ledger's rows in id order."""
    with app.app_context():
        meta = sa.MetaData()
        meta.reflect(db.engine)
        with db.engine.connect() as conn:
            counts = {name: conn.scalar(sa.select(sa.func.count()).select_from(table))
                      for name, table in sorted(meta.tables.items())}
            ledger = meta.tables[LEDGER]
            digest = hashlib.sha256()
            for row in conn.execute(sa.select(ledger).order_by(ledger.c.id)):
                digest.update(repr(tuple(row)).encode())
        db.engine.dispose()
    return counts, digest.hexdigest()


@pytest.fixture
def stocked(app, make_user, make_station, make_customer):
    """Data in many tables: a station, staff, customers, items and a ledger with moves in it."""
    station = make_station()
    tech = make_user("technician", station=station)
    for _ in range(3):
        make_customer()
    stock_technician_van(app, make_user, tech, loaners=("LN1", "LN2"))
    return tech


def more_stock(app, make_user, tech) -> None:
    stock_technician_van(app, make_user, tech, loaners=("LN9",))


def test_backup_then_restore_brings_back_every_row(app, runner, stocked, make_user, make_customer, tmp_path):
    if USE_POSTGRES:
        assert shutil.which("pg_dump") and shutil.which("pg_restore")
    before = snapshot(app)
    assert before[0][LEDGER] > 0 and before[0]["customers"] == 3

    path = tmp_path / "restore24.backup"
    result = runner.invoke(args=["backup", str(path)])
    assert result.exit_code == 0, result.output
    assert path.is_file() and "backed up" in result.output
    assert path.read_bytes()[:5] == (b"PGDMP" if USE_POSTGRES else b"SQLit")

    more_stock(app, make_user, stocked)  # the day goes on: more moves, another customer
    make_customer()
    changed = snapshot(app)
    assert changed[0][LEDGER] > before[0][LEDGER] and changed[1] != before[1]

    refused = runner.invoke(args=["restore", str(path)])
    assert refused.exit_code != 0 and "--yes" in refused.output
    assert snapshot(app) == changed  # nothing touched

    result = runner.invoke(args=["restore", str(path), "--yes"])
    assert result.exit_code == 0, result.output
    assert snapshot(app) == before


def test_a_backup_is_taken_while_a_writer_holds_a_transaction(app, runner, stocked, make_customer, tmp_path):
    """Online: the backup neither waits for nor includes a transaction still open in the app."""
    before = snapshot(app)
    path = tmp_path / "online.backup"
    with app.app_context():
        conn = db.engine.connect()
        try:
            conn.execute(sa.text("UPDATE customers SET name = 'changed meanwhile'"))  # holds the write lock
            result = runner.invoke(args=["backup", str(path)])
            assert result.exit_code == 0, result.output
            conn.commit()  # committed after the backup's snapshot
        finally:
            conn.close()
        db.engine.dispose()
    result = runner.invoke(args=["restore", str(path), "--yes"])
    assert result.exit_code == 0, result.output
    assert snapshot(app) == before
    with app.app_context():
        names = db.session.scalars(sa.text("SELECT name FROM customers")).all()
        db.session.rollback()
    assert names and "changed meanwhile" not in names


def test_bad_paths_are_refused_clearly(app, runner, tmp_path):
    existing = tmp_path / "taken.backup"
    existing.write_bytes(b"something else")
    result = runner.invoke(args=["backup", str(existing)])
    assert result.exit_code != 0 and "exists already" in result.output
    assert existing.read_bytes() == b"something else"

    result = runner.invoke(args=["backup", str(tmp_path / "no" / "such" / "x.backup")])
    assert result.exit_code != 0 and "no folder" in result.output

    result = runner.invoke(args=["restore", str(tmp_path / "missing.backup"), "--yes"])
    assert result.exit_code != 0 and "no backup at" in result.output

    result = runner.invoke(args=["restore", str(existing), "--yes"])
    assert result.exit_code != 0
    assert ("not a pg_dump" if USE_POSTGRES else "not a SQLite database") in result.output

    other_kind = tmp_path / "other.backup"
    other_kind.write_bytes(b"SQLite format 3\x00" if USE_POSTGRES else b"PGDMP\x01\x0e")
    result = runner.invoke(args=["restore", str(other_kind), "--yes"])
    assert result.exit_code != 0
    assert ("a SQLite database" if USE_POSTGRES else "a pg_dump archive") in result.output
