"""The schema lives only in migrations: `flask db check` finds nothing to add."""
from __future__ import annotations

import re


def test_models_and_migrations_agree(runner, capfd):
    result = runner.invoke(args=["db", "check"])  # exits non-zero when they differ
    out = capfd.readouterr().out + result.output
    assert result.exit_code == 0, out
    assert "No new upgrade operations detected" in out


def test_sqlite_pragmas(ctx):
    from core.extensions import db
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_config_from_instance_file_and_environment(tmp_path, monkeypatch, new_app):
    (tmp_path / "config.py").write_text('TIMEZONE = "Europe/Berlin"\nTILES_URL = "/tiles/{z}/{x}/{y}.png"\n')
    monkeypatch.setenv("FLASK_TILES_URL", '"http://127.0.0.1:8080/{z}/{x}/{y}.png"')
    monkeypatch.setenv("FLASK_SCHEDULER_INTERVAL_SECONDS", "30")
    app = new_app()
    assert app.config["TIMEZONE"] == "Europe/Berlin"  # instance file over defaults
    assert app.config["TILES_URL"].startswith("http://127.0.0.1:8080")  # environment over instance file
    assert app.config["SCHEDULER_INTERVAL_SECONDS"] == 30  # parsed as JSON


def test_secret_key_generated_once_into_the_instance_folder(tmp_path, new_app):
    first = new_app(SECRET_KEY=None).config["SECRET_KEY"]
    second = new_app(SECRET_KEY=None).config["SECRET_KEY"]
    assert first == second and re.fullmatch(r"[0-9a-f]{64}", first)
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
