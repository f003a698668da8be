"""The ledger under random moves, and under real concurrency on PostgreSQL."""
from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from core.auth import User
from core.errors import Conflict
from core.extensions import db
from inventory import services

PLACES = ("S01", "S02", "VAN-TECH", "REPAIR")
_skus = itertools.count(1)


@pytest.fixture
def keepers(app, make_station, make_user):
    s1, s2 = make_station("S01"), make_station("S02", lon=114.1)
    make_user("technician", username="tech", station=s1)
    admin = make_user("admin", username="boss")
    make_user("stockkeeper", username="keeper", station=s1)
    return {"admin": admin, "s1": s1, "s2": s2}


def test_levels_always_equal_the_ledger_and_never_go_negative(ctx, keepers):
    admin = db.session.get(User, keepers["admin"].id)
    services.ensure_locations()

    class Ledger(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.sku = f"H-{next(_skus)}"
            services.save_item(sku=self.sku, name="hypothesis part", category="cable", reorder_point=5, actor=admin)
            self.model = {p: 0 for p in PLACES}

        def _move(self, type_, n, source=None, target=None, expect_ok=True):
            before = services.verify_ledger().levels_checked
            try:
                services.record_move(type_, sku=self.sku, qty=n, source=source, target=target,
                                     reason="random", actor=admin)
            except Conflict:
                assert not expect_ok, (type_, n, source, target, self.model)
                assert services.verify_ledger().levels_checked == before  # nothing written
                return
            assert expect_ok, (type_, n, source, target, self.model)
            if source:
                self.model[source] -= n
            if target:
                self.model[target] += n

        @rule(place=st.sampled_from(("S01", "S02", "VAN-TECH")), n=st.integers(1, 50))
        def receive(self, place, n):
            self._move("receive", n, target=place)

        @rule(src=st.sampled_from(("S01", "S02", "VAN-TECH")), dst=st.sampled_from(("S01", "S02", "VAN-TECH")),
              n=st.integers(1, 60))
        def transfer(self, src, dst, n):
            if src != dst:
                self._move("transfer", n, source=src, target=dst, expect_ok=n <= self.model[src])

        @rule(src=st.sampled_from(("S01", "VAN-TECH")), n=st.integers(1, 30))
        def consume(self, src, n):
            self._move("consume", n, source=src, expect_ok=n <= self.model[src])

        @rule(place=st.sampled_from(PLACES), n=st.integers(1, 30), up=st.booleans())
        def adjust(self, place, n, up):
            if up:
                self._move("adjust", n, target=place)
            else:
                self._move("adjust", n, source=place, expect_ok=n <= self.model[place])

        @rule(src=st.sampled_from(("S01", "S02")), n=st.integers(1, 20))
        def to_repair_and_back(self, src, n):
            self._move("repair_out", n, source=src, target="REPAIR", expect_ok=n <= self.model[src])
            back = min(n, self.model["REPAIR"]) or 1
            self._move("repair_in", back, source="REPAIR", target=src, expect_ok=back <= self.model["REPAIR"])

        @invariant()
        def levels_match(self):
            item = services.item_by_sku(self.sku)
            for place in PLACES:
                have = services.level_of(services.location_by_code(place), item)
                assert have == self.model[place] and have >= 0
            assert services.verify_ledger().ok

    run_state_machine_as_test(Ledger, settings=settings(max_examples=25, stateful_step_count=15, deadline=None))


# --- real concurrency (PostgreSQL) ------------------------------------------

def _race(app, n, work):
    """Run `work(i)` in n threads, each in its own app context and session; count commits and refusals."""
    barrier = threading.Barrier(n)
    results: list[str] = []
    lock = threading.Lock()

    def run(i):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                work(i)
                db.session.commit()
                outcome = "ok"
            except Conflict:
                db.session.rollback()
                outcome = "conflict"
            except Exception as err:  # noqa: BLE001 - recorded and asserted on
                db.session.rollback()
                outcome = f"error: {err!r}"
            finally:
                db.session.remove()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.postgres_only
def test_twenty_concurrent_transfers_from_a_store_holding_ten(app, keepers):
    with app.app_context():
        admin = db.session.get(User, keepers["admin"].id)
        services.save_item(sku="RACE", name="race part", category="connector", actor=admin)
        services.ensure_locations()
        services.record_move("receive", sku="RACE", qty=10, target="S01", actor=admin)
        db.session.commit()

    def work(i):
        actor = db.session.get(User, keepers["admin"].id)
        services.record_move("transfer", sku="RACE", qty=1, source="S01", target=("VAN-TECH", "S02")[i % 2],
                             actor=actor)

    results = _race(app, 20, work)
    assert sorted(results) == ["conflict"] * 10 + ["ok"] * 10, results
    with app.app_context():
        item = services.item_by_sku("RACE")
        assert services.level_of(services.location_by_code("S01"), item) == 0
        assert (services.level_of(services.location_by_code("VAN-TECH"), item)
                + services.level_of(services.location_by_code("S02"), item)) == 10
        assert services.verify_ledger().ok


@pytest.mark.postgres_only
def test_two_concurrent_moves_of_one_serial_unit(app, keepers):
    with app.app_context():
        admin = db.session.get(User, keepers["admin"].id)
        services.save_item(sku="BOX", name="box", category="set_top_box", is_serialized=True, actor=admin)
        services.ensure_locations()
        services.record_move("receive", sku="BOX", serial="ONLY-1", target="S01", actor=admin)
        db.session.commit()

    def work(i):
        actor = db.session.get(User, keepers["admin"].id)
        services.record_move("transfer", serial="ONLY-1", source="S01", target=("VAN-TECH", "S02")[i], actor=actor)

    results = _race(app, 2, work)
    assert sorted(results) == ["conflict", "ok"], results
    with app.app_context():
        unit = services.get_unit("ONLY-1")
        assert unit.location.code in ("VAN-TECH", "S02")
        assert len(services.unit_history(unit)) == 2
        assert services.verify_ledger().ok
