"""The feed's SELECT uses the partial (lon, lat) index of open orders, on SQLite and PostgreSQL."""
from __future__ import annotations

import sqlalchemy as sa

from core.auth import get_user
from core.extensions import db
from dispatch.livemap import services as map_service


def _plan(city, bbox: str | None) -> str:
    """EXPLAIN of exactly the statement the feed runs (captured from the cursor, with its parameters)."""
    captured = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if "FROM repair_orders" in statement:
            captured.append((statement, parameters))
    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", grab)
    try:
        map_service.orders_geojson(get_user(city.dispatcher.id), {"bbox": bbox})
    finally:
        sa.event.remove(engine, "before_cursor_execute", grab)
    (statement, parameters), = captured
    conn = db.session.connection()
    if engine.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return "\n".join(str(r[-1]) for r in rows)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a test table is tiny; ask which index fits
    return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters).all())


def test_bbox_query_uses_the_open_point_index(ctx, city, make_order):
    make_order()
    plan = _plan(city, "114.0,22.5,114.01,22.51")
    assert "ix_repair_orders_open_lon_lat" in plan, plan
