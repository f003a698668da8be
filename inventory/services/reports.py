"""Checks, reports and CSV files: verify the ledger, parts consumption, import and export."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased

from core import auth, csvsafe, stations
from core.auth import User
from core.errors import Invalid
from core.extensions import db
from inventory.models import TRACKED_KINDS, Item, Location, SerialUnit, StockLevel, StockMove
from inventory.services.catalogue import require_keeper, save_item
from inventory.services.ledger import cycle_count


def import_counts_csv(text: str | bytes, reason: str, actor: User) -> list[StockMove]:
    """Counted levels from a CSV (location, sku, qty — the levels export's columns will do) become
    adjust moves for the variances, as a cycle count; all rows or none."""
    require_keeper(actor)
    rows = _csv_rows(text, {"location", "sku", "qty"})
    by_place: dict[str, dict[str, Any]] = defaultdict(dict)
    for line, row in rows:
        code, sku = (row.get("location") or "").strip().upper(), (row.get("sku") or "").strip().upper()
        if sku in by_place[code]:
            raise Invalid(str(_l("Line %(n)d: %(code)s %(sku)s is listed twice.", n=line, code=code, sku=sku)),
                          {"file": "duplicate"})
        by_place[code][sku] = row.get("qty")
    moves = []
    for code, counts in by_place.items():
        moves += cycle_count(code, counts, reason, actor)
    return moves


def _csv_rows(text: str | bytes, needed: set[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = csvsafe.read_text(text)  # without the BOM our exports (and Excel's) begin with
    except UnicodeDecodeError:
        raise Invalid(str(_l("The file is not UTF-8 text.")), {"file": "encoding"}) from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not needed <= set(reader.fieldnames):
        raise Invalid(str(_l("The CSV needs the columns %(cols)s.", cols=", ".join(sorted(needed)))),
                      {"file": "columns"})
    # plain_cell: an exported file comes back as it was (the quote that defused a formula goes)
    return [(line, csvsafe.plain_row(row)) for line, row in enumerate(reader, start=2)]


# --- checks and reports ----------------------------------------------------

@dataclass
class LedgerDifference:
    location: str
    sku: str
    level: int
    ledger: int


@dataclass
class LedgerReport:
    differences: list[LedgerDifference] = field(default_factory=list)
    misplaced_units: list[str] = field(default_factory=list)
    levels_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.differences and not self.misplaced_units


def verify_ledger() -> LedgerReport:
    """Compare every level with the ledger's sum, and each unit's place with its last move."""
    report = LedgerReport()
    incoming = (sa.select(StockMove.to_location_id.label("loc"), StockMove.item_id.label("item"),
                          StockMove.qty.label("qty")).where(StockMove.to_location_id.is_not(None)))
    outgoing = (sa.select(StockMove.from_location_id.label("loc"), StockMove.item_id.label("item"),
                          (-StockMove.qty).label("qty")).where(StockMove.from_location_id.is_not(None)))
    flows = sa.union_all(incoming, outgoing).subquery()
    sums = {(loc, item): int(total) for loc, item, total in db.session.execute(
        sa.select(flows.c.loc, flows.c.item, sa.func.sum(flows.c.qty)).group_by(flows.c.loc, flows.c.item))}
    tracked = {loc.id: loc for loc in db.session.scalars(sa.select(Location).where(Location.kind.in_(TRACKED_KINDS)))}
    skus = dict(db.session.execute(sa.select(Item.id, Item.sku)).all())
    levels = {(lv.location_id, lv.item_id): lv.qty for lv in db.session.scalars(sa.select(StockLevel))}
    keys = set(levels) | {k for k in sums if k[0] in tracked}
    for loc_id, item_id in sorted(keys):
        report.levels_checked += 1
        have, should = levels.get((loc_id, item_id), 0), sums.get((loc_id, item_id), 0)
        if have != should:
            code = tracked[loc_id].code if loc_id in tracked else str(loc_id)
            report.differences.append(LedgerDifference(code, skus.get(item_id, str(item_id)), have, should))
    last = (sa.select(StockMove.serial_unit_id, sa.func.max(StockMove.id).label("mid"))
            .where(StockMove.serial_unit_id.is_not(None)).group_by(StockMove.serial_unit_id).subquery())
    rows = db.session.execute(
        sa.select(SerialUnit.serial, SerialUnit.location_id, StockMove.to_location_id, StockMove.from_location_id)
        .join(last, last.c.serial_unit_id == SerialUnit.id).join(StockMove, StockMove.id == last.c.mid))
    for serial, at, to_id, from_id in rows:
        if at != (to_id if to_id is not None else from_id):
            report.misplaced_units.append(serial)
    return report


def consumption_report(*, since: datetime | None = None, until: datetime | None = None,
                       station_id: int | None = None, technician_id: int | None = None,
                       group_by: str = "item") -> list[dict[str, Any]]:
    """Parts consumed (issued to orders or consumed) per item, station or technician, with parts per order."""
    van = aliased(Location)
    out_qty = sa.func.sum(StockMove.qty)
    keys = {"item": [Item.sku, Item.name, Item.name_zh], "station": [stations.Station.code],
            "technician": [auth.User.username]}
    if group_by not in keys:
        raise Invalid(str(_l("Group by item, station or technician.")), {"group_by": "unknown"})
    cols = keys[group_by]
    stmt = (sa.select(*cols, out_qty.label("qty"), sa.func.sum(StockMove.qty * Item.unit_cost).label("cost"),
                      sa.func.count(sa.distinct(StockMove.order_id)).label("orders"))
            .join(Item, Item.id == StockMove.item_id)
            .join(van, van.id == StockMove.from_location_id)
            .outerjoin(stations.Station, stations.Station.id == van.station_id)
            .outerjoin(auth.User, auth.User.id == sa.func.coalesce(van.technician_id, StockMove.actor_id))
            .where(StockMove.type.in_(("issue", "consume")))
            .group_by(*cols).order_by(out_qty.desc(), *cols))
    if since:
        stmt = stmt.where(StockMove.at >= since)
    if until:
        stmt = stmt.where(StockMove.at < until)
    if station_id:
        stmt = stmt.where(van.station_id == station_id)
    if technician_id:
        stmt = stmt.where(van.technician_id == technician_id)
    rows = []
    for row in db.session.execute(stmt):
        data = row._asdict()
        data["qty"] = int(data["qty"])
        data["cost"] = Decimal(data["cost"] or 0).quantize(Decimal("0.01"))
        data["per_order"] = round(data["qty"] / data["orders"], 2) if data["orders"] else None
        rows.append(data)
    return rows


def export_levels_csv(levels: Iterable[StockLevel]) -> str:
    buf = io.StringIO()
    writer = csvsafe.writer(buf)
    writer.writerow(["location", "kind", "station", "sku", "name", "qty", "reorder_point", "reorder_qty", "low"])
    for lv in levels:
        writer.writerow([lv.location.code, lv.location.kind, lv.location.station.code if lv.location.station else "",
                         lv.item.sku, lv.item.name, lv.qty, lv.reorder_point, lv.reorder_qty,
                         "yes" if lv.qty < lv.reorder_point else ""])
    return buf.getvalue()


def export_items_csv(items: Iterable[Item]) -> str:
    buf = io.StringIO()
    writer = csvsafe.writer(buf)
    writer.writerow(["sku", "name", "category", "unit", "serialized", "unit_cost", "reorder_point", "reorder_qty",
                     "van_reorder_point", "name_zh"])
    for it in items:
        writer.writerow([it.sku, it.name, it.category, it.unit, "yes" if it.is_serialized else "no", it.unit_cost,
                         it.reorder_point, it.reorder_qty, it.van_reorder_point, it.name_zh])
    return buf.getvalue()


def import_items_csv(text: str | bytes, actor: User) -> int:
    """Add or update items from a CSV with export_items_csv's columns; all rows or none."""
    require_keeper(actor)
    n = 0
    for line, row in _csv_rows(text, {"sku", "name", "category"}):
        try:
            save_item(sku=row.get("sku") or "", name=row.get("name") or "", category=row.get("category") or "",
                      unit=row.get("unit") or "pcs", name_zh=row.get("name_zh"),
                      is_serialized=(row.get("serialized") or "").strip().lower() in ("yes", "true", "1"),
                      unit_cost=row.get("unit_cost") or 0, reorder_point=row.get("reorder_point") or 0,
                      reorder_qty=row.get("reorder_qty") or 0, van_reorder_point=row.get("van_reorder_point") or 0,
                      actor=actor)
        except Invalid as err:
            raise Invalid(str(_l("Line %(n)d: %(msg)s", n=line, msg=err.message)), err.fields) from None
        n += 1
    return n
