"""`flask demo`: the Shenzhen demo city, deterministic and idempotent."""
from __future__ import annotations

import sqlalchemy as sa
from shapely.geometry import Point, shape
from shapely.ops import unary_union

from core import auth, customers, stations
from core.demo_city import load_districts
from core.extensions import db


def test_demo_loads_the_city_once(runner, app, client):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "admin" in result.output and "restore24" in result.output  # the logins are printed
    with app.app_context():
        sts = stations.all_stations()
        assert len(sts) == 16
        areas = {s.code: shape(s.coverage) for s in sts}
        for s in sts:
            assert areas[s.code].contains(Point(s.lon, s.lat)), s.code  # each station inside its area
        city = unary_union([d.geometry for d in load_districts()])
        covered = unary_union(list(areas.values()))
        assert covered.symmetric_difference(city).area < 1e-6
        rows = db.session.execute(sa.select(customers.Customer.lat, customers.Customer.lon,
                                            customers.Customer.segment)).all()
        assert len(rows) >= 2000
        for lat, lon, _segment in rows[::50]:
            hits = [code for code, a in areas.items() if a.covers(Point(lon, lat))]
            assert len(hits) == 1, (lat, lon, hits)  # on land, served by exactly one station
        assert len({r.segment for r in rows}) == 5
        roles = dict(db.session.execute(sa.select(auth.User.role, sa.func.count()).group_by(auth.User.role)).all())
        assert roles["technician"] == 48 and roles["supervisor"] == 17 and roles["admin"] == 1
        assert roles["dispatcher"] >= 2 and roles["stockkeeper"] >= 4
        first = [u.username for u in db.session.scalars(sa.select(auth.User).order_by(auth.User.username))]
    resp = client.post("/login", data={"username": "tech-s01-2", "password": "restore24"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/field/"
    assert "RO-" in client.get("/field/").get_data(as_text=True)  # the printed technician has jobs
    again = runner.invoke(args=["demo"])
    assert again.exit_code != 0 and "--force" in again.output
    quiet = runner.invoke(args=["demo", "--if-empty"])
    assert quiet.exit_code == 0 and "not loaded" in quiet.output
    forced = runner.invoke(args=["demo", "--force"])
    assert forced.exit_code == 0, forced.output
    with app.app_context():
        assert len(stations.all_stations()) == 16  # idempotent: nothing doubled
        assert [u.username for u in db.session.scalars(sa.select(auth.User).order_by(auth.User.username))] == first
        assert db.session.scalar(sa.select(sa.func.count()).select_from(customers.Customer)) == len(rows)
