"""`flask demo`: the Shenzhen demo city, deterministic and idempotent.

The city is loaded once for this module, at the small size, into a database of its own (the
per-test truncation of the shared test database does not touch it). Idempotency is checked
step by step: running a step again adds nothing.
"""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from shapely.geometry import Point, shape
from shapely.ops import unary_union
from sqlalchemy.engine import make_url

from core import auth, customers, stations
from core.demo import CUSTOMERS
from core.demo_city import load_districts
from core.extensions import db
from testsupport import USE_POSTGRES, make_app


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    from flask_migrate import upgrade

    admin = None
    if USE_POSTGRES:
        base = make_url(os.environ["TEST_POSTGRES_URL"])
        name = f"r24_demo_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('demo-db')}/demo.db"
    application = make_app(url, str(tmp_path_factory.mktemp("demo-instance")))
    with application.app_context():
        upgrade()
    result = application.test_cli_runner().invoke(args=["demo", "--size", "small"])
    assert result.exit_code == 0, result.output
    application.config["DEMO_OUTPUT"] = result.output
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _counts() -> dict[str, int]:
    return {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
            for t in db.metadata.sorted_tables if t.name not in ("audit_events", "alembic_version")}


def test_the_logins_are_printed(demo_app):
    out = demo_app.config["DEMO_OUTPUT"]
    assert "admin" in out and "restore24" in out and "tech-s01-2" in out


def test_stations_tile_the_city_and_customers_live_on_land(demo_app):
    with demo_app.app_context():
        sts = stations.all_stations()
        assert len(sts) == 16
        # both names: the Chinese one for readers of Chinese (e.g. 福田…维修站)
        assert all(s.name_zh.endswith("维修站") and s.name and s.name.isascii() for s in sts), \
            [(s.name, s.name_zh) for s in sts]
        areas = {s.code: shape(s.coverage) for s in sts}
        for s in sts:
            assert areas[s.code].contains(Point(s.lon, s.lat)), s.code  # each station inside its area
        city = unary_union([d.geometry for d in load_districts()])
        covered = unary_union(list(areas.values()))
        assert covered.symmetric_difference(city).area < 1e-6
        rows = db.session.execute(sa.select(customers.Customer.lat, customers.Customer.lon,
                                            customers.Customer.segment)).all()
        assert len(rows) == CUSTOMERS["small"]
        for lat, lon, _segment in rows[::10]:
            hits = [code for code, a in areas.items() if a.covers(Point(lon, lat))]
            assert len(hits) == 1, (lat, lon, hits)  # on land, served by exactly one station
        assert len({r.segment for r in rows}) == 5
        roles = dict(db.session.execute(sa.select(auth.User.role, sa.func.count()).group_by(auth.User.role)).all())
        assert roles["technician"] == 48 and roles["supervisor"] == 17 and roles["admin"] == 1
        assert roles["dispatcher"] >= 2 and roles["stockkeeper"] >= 4


def test_the_printed_technician_has_jobs(demo_app):
    client = demo_app.test_client()
    resp = client.post("/login", data={"username": "tech-s01-2", "password": "restore24"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/field/"
    assert "RO-" in client.get("/field/").get_data(as_text=True)


def test_a_second_load_is_refused_unless_asked(demo_app):
    runner = demo_app.test_cli_runner()
    again = runner.invoke(args=["demo"])
    assert again.exit_code != 0 and "--force" in again.output
    quiet = runner.invoke(args=["demo", "--if-empty"])
    assert quiet.exit_code == 0 and "not loaded" in quiet.output


def test_every_step_run_again_adds_nothing(demo_app):
    from core.cli import _progress

    with demo_app.app_context():
        before = _counts()
        usernames = list(db.session.scalars(sa.select(auth.User.username).order_by(auth.User.username)))
        for name, step in demo_app.extensions["restore24_demo_steps"]:
            step(seed=24, progress=_progress, size="small")
            db.session.commit()
            assert _counts() == before, f"demo step {name} is not idempotent"
        assert list(db.session.scalars(sa.select(auth.User.username).order_by(auth.User.username))) == usernames
