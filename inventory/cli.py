"""`flask inventory verify`, and the inventory step of `flask demo`."""
from __future__ import annotations

import random
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

import core.demo  # noqa: F401  (core's demo steps — stations, staff, customers — register before ours)
from core import auth, stations
from core.customers import Customer
import core.db
from core.db import now, set_clock
from core.extensions import db
from inventory import services

inventory_cli = AppGroup("inventory", help="Spare equipment stock.")


@inventory_cli.command("verify")
def verify() -> None:
    """Compare every stock level with the ledger; exit 1 on any difference."""
    report = services.verify_ledger()
    for d in report.differences:
        click.echo(f"DIFF {d.location} {d.sku}: level {d.level}, ledger {d.ledger}")
    for serial in report.misplaced_units:
        click.echo(f"UNIT {serial}: its place differs from its last move")
    click.echo(f"{report.levels_checked} levels checked, {len(report.differences)} differences, "
               f"{len(report.misplaced_units)} misplaced units")
    if not report.ok:
        raise SystemExit(1)


def register(app: Flask) -> None:
    app.cli.add_command(inventory_cli)


# --- demo ------------------------------------------------------------------

# sku, name, category, unit, serialized, cost, store reorder point, reorder qty, van reorder point,
# store stock, van stock
CATALOGUE = [
    ("STB-HD200", "HD set-top box HD200", "set_top_box", "pcs", True, "320.00", 6, 10, 1, 10, 2),
    ("STB-4K500", "4K set-top box 4K500", "set_top_box", "pcs", True, "560.00", 3, 6, 0, 5, 1),
    ("CARD-CA3", "CA smart card v3", "smart_card", "pcs", True, "45.00", 8, 20, 1, 12, 2),
    ("MDM-DOCSIS31", "Cable modem DOCSIS 3.1", "modem", "pcs", True, "410.00", 3, 6, 0, 5, 1),
    ("ONT-GPON", "GPON optical network terminal", "optical_terminal", "pcs", True, "380.00", 3, 6, 0, 5, 1),
    ("CBL-RG6", "RG-6 coaxial cable", "cable", "m", False, "2.10", 300, 500, 40, 600, 80),
    ("CBL-FIB-DROP", "Fibre drop cable", "cable", "m", False, "1.60", 300, 500, 40, 500, 60),
    ("CBL-PATCH-SC", "SC/APC patch cord 2 m", "cable", "pcs", False, "6.50", 20, 50, 4, 40, 6),
    ("CON-F", "F connector, compression", "connector", "pcs", False, "0.80", 200, 500, 30, 400, 50),
    ("CON-SC-APC", "SC/APC fast connector", "connector", "pcs", False, "4.20", 60, 100, 8, 100, 12),
    ("SPL-2W", "2-way splitter", "splitter", "pcs", False, "9.00", 20, 40, 2, 30, 4),
    ("SPL-4W", "4-way splitter", "splitter", "pcs", False, "13.00", 10, 20, 1, 15, 2),
    ("SPL-PLC-1X8", "PLC optical splitter 1x8", "splitter", "pcs", False, "58.00", 4, 8, 0, 6, 0),
    ("AMP-LINE", "Line amplifier 1 GHz", "amplifier", "pcs", False, "260.00", 2, 4, 0, 3, 0),
    ("AMP-HOME", "Home distribution amplifier", "amplifier", "pcs", False, "95.00", 4, 8, 1, 6, 1),
    ("PSU-12V", "12 V power adapter", "power_supply", "pcs", False, "22.00", 15, 30, 2, 25, 3),
    ("PSU-ONT", "ONT power adapter with battery", "power_supply", "pcs", False, "85.00", 4, 8, 0, 6, 1),
    ("RMT-UNI", "Universal remote control", "remote", "pcs", False, "28.00", 15, 30, 2, 25, 3),
    ("RMT-4K", "Voice remote for 4K box", "remote", "pcs", False, "48.00", 6, 12, 1, 8, 1),
]

NAMES_ZH = {
    "STB-HD200": "高清机顶盒 HD200", "STB-4K500": "4K 机顶盒 4K500", "CARD-CA3": "CA 智能卡 v3",
    "MDM-DOCSIS31": "DOCSIS 3.1 电缆调制解调器", "ONT-GPON": "GPON 光网络终端", "CBL-RG6": "RG-6 同轴电缆",
    "CBL-FIB-DROP": "皮线光缆", "CBL-PATCH-SC": "SC/APC 跳线 2 米", "CON-F": "F 头（压接式）",
    "CON-SC-APC": "SC/APC 快速连接器", "SPL-2W": "二分支器", "SPL-4W": "四分支器",
    "SPL-PLC-1X8": "PLC 光分路器 1×8", "AMP-LINE": "1 GHz 干线放大器", "AMP-HOME": "家用分配放大器",
    "PSU-12V": "12 V 电源适配器", "PSU-ONT": "光猫电源适配器（带电池）", "RMT-UNI": "万能遥控器",
    "RMT-4K": "4K 机顶盒语音遥控器",
}


@contextmanager
def _at(when: datetime) -> Iterator[None]:
    """Write the demo's history as it happened: moves stamped in the past."""
    previous = core.db._clock  # restored after, so a frozen test clock survives the demo
    set_clock(lambda: when)
    try:
        yield
    finally:
        set_clock(previous)


def load_inventory(seed: int, progress: Callable[..., Any], size: str = "full") -> None:
    rng = random.Random(seed)
    admin = auth.find_user("admin") or db.session.scalar(auth.users_query(role="admin"))
    if admin is None or db.session.scalar(sa.select(sa.func.count()).select_from(services.StockMove)):
        return  # no staff yet, or loaded already
    for row in CATALOGUE:
        sku, name, cat, unit, serial, cost, rp, rq, vrp = row[:9]
        services.save_item(sku=sku, name=name, name_zh=NAMES_ZH.get(sku, ""), category=cat, unit=unit,
                           is_serialized=serial, unit_cost=cost,
                           reorder_point=rp, reorder_qty=rq, van_reorder_point=vrp, actor=admin)
    services.ensure_locations()
    start = now() - timedelta(days=30)
    stores = [services.store_of(st.id) for st in stations.all_stations()]
    with progress(stores, "stock") as bar:
        for n, store in enumerate(bar):
            vans = list(db.session.scalars(services.locations_query("van", store.station_id)))
            with _at(start + timedelta(hours=n)):
                for sku, _n, _c, _u, serialized, *_rest, store_qty, van_qty in CATALOGUE:
                    total = store_qty + van_qty * len(vans)
                    if serialized:
                        serials = [f"{sku.replace('-', '')}{store.code}{i:04d}" for i in range(1, total + 1)]
                        services.receive_batch(sku, store.code, admin, serials=serials, reason="initial stock")
                    else:
                        services.receive_batch(sku, store.code, admin, qty=total, reason="initial stock")
            with _at(start + timedelta(days=1, hours=n)):
                for van in vans:
                    for sku, _n, _c, _u, serialized, *_rest, store_qty, van_qty in CATALOGUE:
                        if not van_qty:
                            continue
                        if serialized:
                            item = services.item_by_sku(sku)
                            for unit in services.units_at(store, item)[:van_qty]:
                                services.record_move("transfer", serial=unit.serial, source=store.code,
                                                     target=van.code, actor=admin, reason="van stock")
                        else:
                            services.record_move("transfer", sku=sku, qty=van_qty, source=store.code,
                                                 target=van.code, actor=admin, reason="van stock")
            # parts used over the month, some loaners out (a few overdue)
            for van in vans:
                for day in sorted(rng.sample(range(2, 29), 4)):
                    sku = rng.choice(["CBL-RG6", "CON-F", "SPL-2W", "PSU-12V", "RMT-UNI"])
                    qty = rng.randint(5, 25) if sku in ("CBL-RG6", "CON-F") else 1
                    with _at(start + timedelta(days=day, hours=rng.randint(1, 10))):
                        services.record_move("consume", sku=sku, qty=qty, source=van.code,
                                             actor=van.technician, reason="used on a job")
    customers = list(db.session.scalars(sa.select(Customer).order_by(Customer.id).limit(200)))
    if not customers:
        return
    for i, store in enumerate(stores[:8]):
        boxes = [u for u in services.units_at(store) if u.item.category == "set_top_box"][:2]
        for j, unit in enumerate(boxes):
            days_ago = 20 if j == 0 and i % 2 == 0 else 3  # half the stations have one overdue loaner
            with _at(now() - timedelta(days=days_ago)):
                services.lend_loaner(None, customers[(i * 7 + j * 3) % len(customers)].id, unit.serial, admin)
