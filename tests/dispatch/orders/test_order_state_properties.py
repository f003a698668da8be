"""Property test: the order-state rules have one meaning. For generated orders — paused before and
after their deadlines, resumed (the clock's pauses add up), resolved on and after the deadline,
reopened, cancelled, and odd rows written straight to the table — the Python form
(`order.sla_state(at)`, `order.is_open`, `order.seconds_left(at)`) and the SQL form the database
evaluates (`RepairOrder.sla_state(at)`, `overdue_clause(at)`, `due_soon_clause(at)`, ...) agree at
every instant that matters: exactly at, just before and just after each order's warning time,
deadline, pause and resolution."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.auth import get_user
from core.extensions import db
from dispatch.orders import services
from dispatch.orders.models import STATUSES, Category, RepairOrder, due_soon_clause, overdue_clause

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
HOUR_US = 3600 * 10**6

# how an order's story ends (all but "new", "assigned" and "cancelled" start on site with the technician)
ENDINGS = ("running", "waiting_parts", "paused", "resolved", "closed", "reopened", "reopened_paused", "new",
           "assigned", "cancelled")

# a moment near an edge: exactly on it, a microsecond either side, or anywhere within 30 hours
near = st.one_of(st.sampled_from([-1, 0, 1]), st.integers(-30 * HOUR_US, 30 * HOUR_US))


@dataclass(frozen=True)
class Story:
    restore_us: int
    lead_us: int
    pauses: tuple[tuple[int, int], ...]  # (gap before, length) of each pause that was resumed, µs
    ending: str
    anchor: str  # the ending happens near the order's warning time or its deadline (as it stands then)
    offset_us: int
    reopen_after_us: int
    anchor2: str  # reopened_paused: paused again near the new warning time or deadline
    offset2_us: int


@st.composite
def stories(draw) -> Story:
    restore = draw(st.integers(1, 48 * HOUR_US))
    lead = draw(st.one_of(st.just(0), st.just(restore), st.integers(0, restore)))
    pauses = tuple(draw(st.lists(st.tuples(st.integers(0, 30 * HOUR_US), st.integers(0, 30 * HOUR_US)),
                                 max_size=2)))
    return Story(restore, lead, pauses, draw(st.sampled_from(ENDINGS)), draw(st.sampled_from(("warn", "deadline"))),
                 draw(near), draw(st.integers(0, 6 * 24 * HOUR_US)), draw(st.sampled_from(("warn", "deadline"))),
                 draw(near))


@dataclass(frozen=True)
class Raw:
    """A row written as is, whatever the services would do: any status, pause and resolution."""
    status: str
    restore_us: int
    lead_us: int
    paused_us: int | None  # from T0
    resolved_us: int | None


raws = st.builds(Raw, st.sampled_from(STATUSES), st.integers(0, 48 * HOUR_US), st.integers(0, 8 * HOUR_US),
                 st.none() | st.integers(-HOUR_US, 80 * HOUR_US), st.none() | st.integers(0, 80 * HOUR_US))


@pytest.fixture
def refs(ctx, city):
    category = db.session.scalar(sa.select(Category).where(Category.code == "DTV-MOSAIC"))
    return SimpleNamespace(customer_id=city.customer.id, category_id=category.id, station_id=city.s1.id,
                           tech_id=city.t1.id, dispatcher_id=city.dispatcher.id, numbers=iter(range(1, 10**6)))


def _row(refs, *, status: str, deadline_at: datetime, warn_at: datetime, technician: bool = True,
         **fields) -> RepairOrder:
    order = RepairOrder(number=f"RO-PROP-{next(refs.numbers):06d}", customer_id=refs.customer_id, kind="fault",
                        category_id=refs.category_id, channel="api", description="property", lat=22.505, lon=114.005,
                        station_id=refs.station_id, technician_id=refs.tech_id if technician else None,
                        status=status, reported_at=T0, deadline_at=deadline_at, warn_at=warn_at, **fields)
    db.session.add(order)
    db.session.flush()
    return order


def _edge(order: RepairOrder, anchor: str, offset_us: int) -> datetime:
    return max(T0, (order.warn_at if anchor == "warn" else order.deadline_at) + timedelta(microseconds=offset_us))


def _tell(story: Story, refs, clock) -> RepairOrder:
    """Make an order live the story through the orders service (the clock set to each step's time)."""
    tech, disp = get_user(refs.tech_id), get_user(refs.dispatcher_id)
    deadline = T0 + timedelta(microseconds=story.restore_us)
    warn = deadline - timedelta(microseconds=story.lead_us)
    if story.ending in ("new", "assigned", "cancelled"):
        return _row(refs, status=story.ending, deadline_at=deadline, warn_at=warn, technician=story.ending == "assigned",
                    cancelled_at=T0 if story.ending == "cancelled" else None)
    order = _row(refs, status="on_site", deadline_at=deadline, warn_at=warn)

    def step(at: datetime, action: str, actor=tech, **payload) -> None:
        clock.set(at)
        services.transition(order, action, actor, **payload)

    cursor = T0
    for gap, length in story.pauses:  # paused and resumed: deadline and warning move on by the pause
        cursor += timedelta(microseconds=gap)
        step(cursor, "wait_customer")
        cursor += timedelta(microseconds=length)
        step(cursor, "resume")
    at = _edge(order, story.anchor, story.offset_us)
    if story.ending == "waiting_parts":
        step(at, "wait_parts")  # the default policy keeps the clock running
    elif story.ending == "paused":
        step(at, "wait_customer")
    elif story.ending in ("resolved", "closed", "reopened", "reopened_paused"):
        step(at, "resolve", resolution_code="fixed")
        if story.ending == "closed":
            step(at + timedelta(hours=1), "close", disp)
        elif story.ending.startswith("reopened"):
            step(at + timedelta(microseconds=story.reopen_after_us), "reopen", disp)  # a new deadline
            if story.ending == "reopened_paused":
                for action in ("accept", "depart", "arrive"):
                    step(clock.current, action)
                step(_edge(order, story.anchor2, story.offset2_us), "wait_customer")
    return order


def _write(raw: Raw, refs) -> RepairOrder:
    deadline = T0 + timedelta(microseconds=raw.restore_us)
    at = lambda us: None if us is None else T0 + timedelta(microseconds=us)  # noqa: E731
    return _row(refs, status=raw.status, deadline_at=deadline, warn_at=deadline - timedelta(microseconds=raw.lead_us),
                technician=raw.status not in ("new", "cancelled"), paused_at=at(raw.paused_us),
                resolved_at=at(raw.resolved_us))


def _instants(orders: list[RepairOrder]) -> list[datetime]:
    """Every edge of every order, a microsecond either side, and a time long after them all."""
    edges = {T0, T0 + timedelta(days=30)}
    for o in orders:
        for t in (o.warn_at, o.deadline_at, o.paused_at, o.resolved_at):
            if t is not None:
                edges.update((t - US, t, t + US))
    return sorted(edges)


def _check_agreement(ids: list[int]) -> None:
    db.session.expire_all()  # compare with what the database gives back, to the microsecond
    orders = list(db.session.scalars(sa.select(RepairOrder).where(RepairOrder.id.in_(ids))).unique())
    mine = RepairOrder.id.in_(ids)
    assert {o.id for o in orders if o.is_open} == set(db.session.scalars(sa.select(RepairOrder.id).where(
        mine, RepairOrder.is_open)))
    for at in _instants(orders):
        # per order: the state, whether each clause selects it (CASE WHEN is WHERE's truth), the time left
        rows = db.session.execute(sa.select(
            RepairOrder.id, RepairOrder.sla_state(at), sa.case((overdue_clause(at), True), else_=False),
            sa.case((due_soon_clause(at), True), else_=False), RepairOrder.seconds_left(at)).where(mine)).all()
        assert len(rows) == len(orders)
        by_id = {o.id: o for o in orders}
        for oid, state, overdue, due_soon, left in rows:
            o = by_id[oid]
            assert state == o.sla_state(at), (oid, at)
            assert bool(overdue) == (o.is_open and o.sla_state(at) == "overdue"), (oid, at)
            assert bool(due_soon) == (o.is_open and o.sla_state(at) == "due_soon"), (oid, at)
            assert left == pytest.approx(o.seconds_left(at), abs=1e-3), (oid, at)


def test_python_and_sql_forms_of_the_order_state_agree(refs, clock):
    @settings(max_examples=50, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(told=st.lists(stories(), min_size=1, max_size=6), written=st.lists(raws, max_size=4))
    def check(told: list[Story], written: list[Raw]) -> None:
        try:
            orders = [_tell(s, refs, clock) for s in told] + [_write(r, refs) for r in written]
            db.session.flush()
            _check_agreement([o.id for o in orders])
        finally:
            db.session.rollback()  # each example starts from the bare city
    check()


def test_the_edges_themselves(refs, clock):
    """The rule's named cases, as one example each (the property covers their mixtures)."""
    def story(ending: str, anchor: str, offset_us: int, pauses=()) -> Story:
        return Story(24 * HOUR_US, 4 * HOUR_US, pauses, ending, anchor, offset_us, HOUR_US, "deadline", 0)
    cases = {  # story → state 40 hours after the report
        story("paused", "deadline", 0): "overdue",  # paused exactly at the deadline
        story("paused", "deadline", HOUR_US): "overdue",  # paused after it: stays overdue while it waits
        story("paused", "deadline", -1): "due_soon",  # paused a microsecond before: frozen due soon
        story("paused", "warn", 0): "due_soon",
        story("paused", "warn", -1): "ok",
        story("running", "deadline", 0, pauses=((HOUR_US, 20 * HOUR_US),)): "due_soon",  # resumed: 20 h more
        story("resolved", "deadline", 0): "ok",  # resolved exactly at the deadline is on time
        story("resolved", "deadline", 1): "overdue",
        story("reopened", "deadline", 0): "ok",  # a new deadline from the reopening
        story("cancelled", "deadline", HOUR_US): "ok",
    }
    ids = {}
    for s, expected in cases.items():
        ids[_tell(s, refs, clock).id] = expected
    db.session.flush()
    at = T0 + timedelta(hours=40)
    assert dict(db.session.execute(sa.select(RepairOrder.id, RepairOrder.sla_state(at))
                                   .where(RepairOrder.id.in_(ids))).all()) == ids
    _check_agreement(list(ids))
