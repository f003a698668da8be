"""Dispatch services: intake, placement, assignment, the life cycle and its clock."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.auth import get_user
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.outbox import Notification
from dispatch.orders import services
from dispatch.orders.jobs import geocode_addresses
from dispatch.orders.models import OrderEvent, RepairOrder


def _new(city, actor=None, **extra):
    data = {"customer_id": city.customer.id, "category": "DTV-MOSAIC", "description": "Picture breaks up",
            "channel": "hotline"}
    data.update(extra)
    return services.create_order(data, actor or get_user(city.dispatcher.id))


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _types(order) -> list[str]:
    return [e.type for e in services.timeline(order)]


def test_reference_data_is_seeded_once(ctx):
    services.ensure_reference_data()
    services.ensure_reference_data()
    cats = services.categories()
    assert {"DTV-MOSAIC", "BB-MODEM-OFFLINE", "INST-BB", "RELOC-DTV", "CATV-CABLE-CUT"} <= {c.code for c in cats}
    assert len(cats) == len({c.code for c in cats})
    assert services.policy_for("fault", "vip").restore_hours == 24
    assert services.policy_for("installation", None).restore_hours == 72
    assert services.policy_for("complaint_visit", "hotel").restore_hours == 48


def test_order_is_placed_assigned_and_numbered(ctx, city, clock):
    order = _new(city)
    assert order.number == "RO-20260302-0001"  # 09:00 in Shanghai
    assert order.station.code == "S01" and order.placement_reason == "inside S01's area"
    assert order.status == "assigned" and order.technician_id in (city.t1.id, city.t2.id)
    assert order.deadline_at == clock.current + timedelta(hours=24)
    assert [c["username"] for c in order.candidates] == sorted(
        [c["username"] for c in order.candidates], key=lambda u: next(
            c["score"] for c in order.candidates if c["username"] == u))
    assert "t4off" not in {c["username"] for c in order.candidates}  # off duty
    assert _types(order) == ["created", "assigned"]
    assigned = services.timeline(order)[1]
    assert "inside S01's area" in assigned.note
    note = db.session.scalar(sa.select(Notification).where(Notification.recipient_id == order.technician_id))
    assert note.kind == "order_assigned" and order.number in note.title
    assert _new(city).number == "RO-20260302-0002"


def test_skill_decides_the_technician(ctx, city):
    order = _new(city, category="BB-SLOW")  # broadband: only t2 at S01
    assert order.technician_id == city.t2.id
    order = _new(city, category="CATV-SNOW")  # cable: only t1 at S01
    assert order.technician_id == city.t1.id


def test_workload_spreads_orders(ctx, city):
    first = _new(city)
    second = _new(city)
    assert {first.technician_id, second.technician_id} == {city.t1.id, city.t2.id}


def test_no_one_on_duty_leaves_the_order_at_the_station(ctx, city):
    order = _new(city, category="BB-FIBER-BREAK")  # nobody has the fibre skill
    assert order.status == "new" and order.station.code == "S01" and order.technician_id is None
    assert order.candidates == []
    assert "no technician available" in services.timeline(order)[-1].note


def test_point_outside_every_area_goes_to_the_nearest(ctx, city):
    order = _new(city, lat=22.505, lon=114.05)
    assert order.station.code == "S02" and order.placement_reason.startswith("nearest: S02, ")


def test_reported_at_sets_the_deadline(ctx, city, clock):
    reported = clock.current - timedelta(hours=5)
    order = _new(city, reported_at=reported.isoformat())
    assert order.reported_at == reported and order.deadline_at == reported + timedelta(hours=24)


@pytest.mark.parametrize("extra, field", [
    ({"lat": 91, "lon": 114.0}, "lat"),
    ({"lat": 22.5, "lon": 200}, "lon"),
    ({"lat": "north", "lon": 114.0}, "lat"),
    ({"customer_id": "12"}, "customer_id"),
    ({"description": ""}, "description"),
    ({"description": "x" * 4001}, "description"),
    ({"description": 42}, "description"),
    ({"channel": "fax"}, "channel"),
    ({"kind": "party"}, "kind"),
    ({"kind": "installation"}, "kind"),  # DTV-MOSAIC is a fault
    ({"reported_at": "2026-03-03T01:00:00+00:00"}, "reported_at"),  # future
    ({"reported_at": "2026-01-01T01:00:00+00:00"}, "reported_at"),  # > 30 days back
    ({"reported_at": "2026-03-01T01:00:00"}, "reported_at"),  # no offset
    ({"reported_at": "yesterday"}, "reported_at"),
])
def test_bad_intake_writes_nothing(ctx, city, clock, extra, field):
    before = (_count(RepairOrder), _count(OrderEvent))
    with pytest.raises(Invalid) as err:
        _new(city, **extra)
    assert field in err.value.fields
    assert (_count(RepairOrder), _count(OrderEvent)) == before


def test_unknown_customer_or_category_is_not_found(ctx, city):
    with pytest.raises(NotFound):
        _new(city, customer_id=999999)
    with pytest.raises(NotFound):
        _new(city, category="NOPE")
    assert _count(RepairOrder) == 0


def test_new_customer_inline(ctx, city):
    order = _new(city, customer_id=None, customer={"name": "Li Lei", "phone": "13900001111", "address": "1 Binhe Road"},
                 lat=22.505, lon=114.015)
    assert order.customer.name == "Li Lei" and order.station.code == "S02"


def test_bad_inline_customer_writes_nothing(ctx, city):
    from core.customers import Customer
    before = _count(Customer)
    with pytest.raises(Invalid):
        _new(city, customer_id=None, customer={"name": "", "phone": "x"})
    assert _count(Customer) == before and _count(RepairOrder) == 0


def test_geocoded_address(ctx, city, make_customer, nominatim):
    nowhere = make_customer(lat=None, lon=None, address="8 Fuhua Road")
    nominatim.answers["8 Fuhua Road"] = (22.505, 114.015)
    order = _new(city, customer_id=nowhere.id)
    assert order.needs_location and nominatim.queries == []  # intake never calls out: the job does
    geocode_addresses()
    assert (order.lat, order.lon) == (22.505, 114.015) and order.station.code == "S02"
    assert not order.needs_location and nominatim.queries == ["8 Fuhua Road"]


@pytest.mark.parametrize("down", [True, False])
def test_geocoder_down_or_empty_keeps_the_order_waiting(ctx, city, make_customer, nominatim, down):
    nominatim.down = down
    nowhere = make_customer(lat=None, lon=None, address="nowhere street")
    order = _new(city, customer_id=nowhere.id)
    geocode_addresses()
    assert order.needs_location and order.station_id is None and order.status == "new"
    assert nominatim.queries == ["nowhere street"]
    services.pin_location(order, 22.505, 114.005, get_user(city.dispatcher.id))
    assert not order.needs_location and order.station.code == "S01" and order.status == "assigned"
    assert _types(order)[-2:] == ["located", "assigned"]
    with pytest.raises(Conflict):
        services.pin_location(order, 22.505, 114.005, get_user(city.dispatcher.id))


def _walk(order, actor, *actions, **payload):
    for action in actions:
        services.transition(order, action, actor, **(payload if action == "resolve" else {}))
    return order


def test_full_life_cycle(app, city, clock, stock_van):
    stock_van(city.t1)
    stock_van(city.t2, loaners=("LN2",))
    ctx = app.app_context()
    ctx.push()
    order = _new(city)
    tech = get_user(order.technician_id)
    loaner = "LN1" if tech.id == city.t1.id else "LN2"
    _walk(order, tech, "accept", "depart", "arrive")
    services.transition(order, "resolve", tech, resolution_code="replaced_stb", parts=[{"sku": "CONN-F", "qty": 2}],
                        loan={"serial": loaner}, lat=22.505, lon=114.005)
    services.transition(order, "close", get_user(city.dispatcher.id))
    assert order.status == "closed" and order.resolution["loan"] == {"serial": loaner}
    assert _types(order) == ["created", "assigned", "accepted", "departed", "arrived", "resolved", "closed"]
    resolved = services.timeline(order)[-2]
    assert resolved.lat == 22.505 and resolved.actor_id == tech.id and resolved.data["parts"] == [{"sku": "CONN-F", "qty": 2}]
    assert services.assignment.duty_of(tech.id).last_lat == 22.505
    from inventory import services as inventory
    van = inventory.van_of(tech)
    assert inventory.level_of(van, inventory.item_by_sku("CONN-F")) == 8  # the parts left the van
    assert inventory.unit_by_serial(loaner).location.kind == "customer"
    db.session.rollback()
    ctx.pop()


def test_a_shortage_refuses_the_resolution(app, city, stock_van):
    stock_van(city.t1, loaners=())
    stock_van(city.t2, loaners=())
    with app.app_context():
        order = _new(city)
        tech = get_user(order.technician_id)
        _walk(order, tech, "accept", "depart", "arrive")
        db.session.commit()
        with pytest.raises(Conflict):
            services.transition(order, "resolve", tech, resolution_code="x", parts=[{"sku": "CONN-F", "qty": 11}])
        db.session.rollback()
        order = db.session.get(RepairOrder, order.id)
        assert order.status == "on_site" and _types(order)[-1] == "arrived"


def test_resolving_books_stock_with_the_resolution(ctx, city, monkeypatch):
    from dispatch.orders.services import stock

    seen = []
    monkeypatch.setattr(stock, "book_resolution_stock",
                        lambda order, res, actor: seen.append((order.id, res["resolution_code"], actor.id)))
    order = _new(city)
    tech = get_user(order.technician_id)
    _walk(order, tech, "accept", "depart", "arrive", "resolve", resolution_code="fixed")
    assert seen == [(order.id, "fixed", tech.id)]


def test_no_behaviour_is_registered_at_import():
    """Hooks, jobs and demo steps are listed by create_app or called directly, never appended at import."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    pattern = re.compile(r"\b(CREATE_HOOKS|RESOLVE_HOOKS|DEMO_STEPS|JOBS)\b|^@(job|demo_step)\(", re.M)
    found = [f"{path.relative_to(root)}" for pkg in ("app.py", "core", "dispatch", "field", "inventory")
             for path in ([root / pkg] if pkg.endswith(".py") else (root / pkg).rglob("*.py"))
             if pattern.search(path.read_text())]
    assert not found, f"import-time registries in {found}"


def test_illegal_transitions_are_conflicts(ctx, city):
    order = _new(city)
    tech = get_user(order.technician_id)
    for action in ("depart", "arrive", "resolve", "close", "resume", "reopen", "wait_customer"):
        with pytest.raises(Conflict):
            services.transition(order, action, tech if action != "close" and action != "reopen"
                                else get_user(city.dispatcher.id))
    assert order.status == "assigned" and _types(order) == ["created", "assigned"]
    with pytest.raises(Invalid):
        services.transition(order, "explode", tech)


def test_actors_are_checked(ctx, city):
    order = _new(city)
    other = get_user(city.t3.id)
    with pytest.raises(Forbidden):
        services.transition(order, "accept", other)  # not their order
    with pytest.raises(Forbidden):
        services.transition(order, "cancel", get_user(order.technician_id))  # technicians do not cancel
    s2_order = _new(city, lat=22.505, lon=114.015)
    with pytest.raises(Forbidden):
        services.transition(s2_order, "cancel", get_user(city.supervisor.id))  # another station's order
    services.transition(order, "cancel", get_user(city.supervisor.id))
    assert order.status == "cancelled"


def test_waiting_for_the_customer_pauses_the_clock(ctx, city, clock):
    order = _new(city)
    deadline = order.deadline_at
    tech = get_user(order.technician_id)
    _walk(order, tech, "accept", "depart", "arrive", "wait_customer")
    clock.advance(hours=30)
    assert order.sla_state() == "ok"  # paused: the deadline moves on with the clock
    services.transition(order, "resume", tech)
    assert order.deadline_at == deadline + timedelta(hours=30) and order.paused_seconds == 30 * 3600
    assert order.paused_at is None


def test_waiting_for_parts_does_not_pause_by_default(ctx, city, clock):
    order = _new(city)
    tech = get_user(order.technician_id)
    _walk(order, tech, "accept", "depart", "arrive", "wait_parts")
    clock.advance(hours=25)
    assert order.sla_state() == "overdue"
    services.transition(order, "resume", tech)
    assert order.paused_seconds == 0


def test_sla_states(ctx, city, clock):
    order = _new(city)
    assert order.sla_state() == "ok"
    clock.advance(hours=21)
    assert order.sla_state() == "due_soon"
    clock.advance(hours=4)
    assert order.sla_state() == "overdue"


def test_reopen_within_seven_days_marks_a_repeat(ctx, city, clock):
    order = _new(city)
    tech = get_user(order.technician_id)
    _walk(order, tech, "accept", "depart", "arrive", "resolve", resolution_code="fixed")
    clock.advance(days=6)
    services.transition(order, "reopen", get_user(city.dispatcher.id), note="no signal again")
    assert order.is_repeat and order.status == "assigned" and order.resolved_at is None
    assert order.deadline_at == clock.current + timedelta(hours=24)
    _walk(order, tech, "accept", "depart", "arrive", "resolve", resolution_code="fixed")
    clock.advance(days=7, minutes=1)
    with pytest.raises(Conflict):
        services.transition(order, "reopen", get_user(city.dispatcher.id))


def test_decline_passes_the_order_on(ctx, city):
    order = _new(city)
    first = order.technician_id
    services.transition(order, "decline", get_user(first), note="sick")
    assert order.status == "assigned" and order.technician_id not in (None, first)
    assert _types(order)[-2:] == ["declined", "assigned"]
    services.transition(order, "decline", get_user(order.technician_id))
    assert order.status == "new" and order.technician_id is None  # the decliner is left out; no one else


def test_reassign_to_technician_and_station(ctx, city):
    order = _new(city)
    first = order.technician_id
    disp = get_user(city.dispatcher.id)
    with pytest.raises(Invalid):
        services.assign(order, disp, technician_id=city.t3.id)  # a reason is required
    services.assign(order, disp, technician_id=city.t3.id, reason="customer asked for t3")
    assert order.technician_id == city.t3.id and order.station.code == "S02"
    event = services.timeline(order)[-2]
    assert event.type == "reassigned" and event.note == "customer asked for t3"
    kinds = {(n.recipient_id, n.kind) for n in db.session.scalars(sa.select(Notification))}
    assert (first, "order_unassigned") in kinds and (city.t3.id, "order_assigned") in kinds
    services.assign(order, disp, station_code="S01", reason="back home")
    assert order.station.code == "S01" and order.technician_id in (city.t1.id, city.t2.id)
    with pytest.raises(Conflict):
        services.assign(order, disp, technician_id=order.technician_id, reason="same")
    with pytest.raises(NotFound):
        services.assign(order, disp, station_code="NOPE", reason="x")
    with pytest.raises(Conflict):
        services.assign(order, disp, technician_id=city.t1.id, reason="x", expected_version=1)


def test_technicians_cannot_assign(ctx, city):
    order = _new(city)
    with pytest.raises(Forbidden):
        services.assign(order, get_user(city.t1.id), technician_id=city.t2.id, reason="swap")


def test_queues(ctx, city, clock, make_customer):
    nowhere = make_customer(lat=None, lon=None, address="")
    disp = get_user(city.dispatcher.id)
    _new(city, category="BB-FIBER-BREAK")  # unassigned
    _new(city, customer_id=nowhere.id)  # needs location
    _new(city, reported_at=(clock.current - timedelta(hours=25)).isoformat())  # overdue
    _new(city, reported_at=(clock.current - timedelta(hours=22)).isoformat())  # due soon
    counts = services.queue_counts(disp)
    assert counts["unassigned"] == 1 and counts["needs_location"] == 1
    assert counts["overdue"] == 1 and counts["due_soon"] == 1 and counts["open"] == 4
    sup_counts = services.queue_counts(get_user(city.supervisor.id))
    assert sup_counts["needs_location"] == 0 and sup_counts["open"] == 3  # only S01's orders
    board = services.station_board(disp)
    assert board[0]["code"] == "S01" and board[0]["unassigned"] == 1 and board[0]["overdue"] == 1


def test_a_job_away_from_home_is_geocoded_not_placed_at_home(ctx, city, nominatim):
    nominatim.answers["9 Binhe Road"] = (22.505, 114.015)
    order = _new(city, address="9 Binhe Road")
    geocode_addresses()
    assert (order.lat, order.lon) == (22.505, 114.015) and order.station.code == "S02"
    same = _new(city, address="1 Shennan Road")  # the customer's own address: their point, no lookup
    assert same.station.code == "S01" and nominatim.queries == ["9 Binhe Road"]
