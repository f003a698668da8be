"""Delivery of the outbox through a real (local) push service: encryption, VAPID, retries, once-only."""
from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import create_app
from core import outbox, scheduler
from core.extensions import db
from field import push
from field.models import PushDelivery, PushSubscription

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pushservice.py, push_fixtures.py (no packages)
from push_fixtures import alert, deliver, push_service, subscribe  # noqa: E402,F401  (fixtures)


def _note(app, note_id):
    with app.app_context():
        note = db.session.get(outbox.Notification, note_id)
        db.session.expunge(note)
        return note


def _deliveries(app, note_id):
    with app.app_context():
        return [(d.attempt, d.status, d.http_status) for d in db.session.scalars(
            sa.select(PushDelivery).where(PushDelivery.notification_id == note_id).order_by(PushDelivery.id))]


def _another_app(app, **extra):
    """A second process of the same installation: same database, same instance folder."""
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
              "SECRET_KEY": "test-secret", "INSTANCE_PATH": app.instance_path, "WTF_CSRF_ENABLED": False,
              "SCHEDULER_ENABLED": False, "PUSH_ALLOWED_ORIGINS": app.config["PUSH_ALLOWED_ORIGINS"]}
    config.update(extra)
    return create_app(config)


def test_recipient_gets_a_message_that_decrypts_to_the_payload(app, make_user, push_service, subscribe, alert,
                                                              deliver):
    tech = make_user("technician")
    device = push_service.subscribe()
    subscribe(tech, device)
    note_id = alert(tech, title="Order R7 assigned to you", body="Futian, fault: no signal",
                    url="/field/orders/7", order_id=7, urgency="high")

    stats = deliver()

    assert stats["sent"] == 1 and stats["alert_sent"] == 1
    assert push_service.errors == []
    [msg] = push_service.received(device)
    assert msg.status == 201
    assert msg.payload == {"type": "assigned", "title": "Order R7 assigned to you", "body": "Futian, fault: no signal",
                           "url": "/field/orders/7", "order": 7, "tag": "order-7"}
    assert msg.headers["urgency"] == "high"
    assert msg.headers["topic"] == "order-7"
    assert 23 * 3600 < int(msg.headers["ttl"]) <= 24 * 3600
    assert msg.claims["aud"] == push_service.origin and msg.claims["sub"] == app.config["VAPID_SUBJECT"]
    with app.app_context():
        assert msg.vapid_key == push.public_key()
    note = _note(app, note_id)
    assert note.push_status == "sent" and note.delivered_at is not None and note.claim_token is None
    assert _deliveries(app, note_id) == [(1, "sent", 201)]
    assert deliver() == {}  # nothing left to do: sent once


def test_payload_is_in_the_recipients_language(app, make_user, push_service, subscribe, alert, deliver):
    tech = make_user("technician", locale="zh_CN")
    device = push_service.subscribe()
    subscribe(tech, device)
    alert(tech, title=_l("My jobs"), body="", topic="order:42:assigned")

    deliver()

    [msg] = push_service.received(device)
    assert msg.payload["title"] == "我的工单"
    assert msg.headers["topic"] == "order-42-assigned"  # url-safe characters only


def test_every_device_of_the_recipient_gets_it_and_nobody_else(app, make_user, push_service, subscribe, alert,
                                                               deliver):
    tech, other = make_user("technician"), make_user("supervisor")
    phone, tablet, theirs = push_service.subscribe(), push_service.subscribe(), push_service.subscribe()
    subscribe(tech, phone)
    subscribe(tech, tablet)
    subscribe(other, theirs)
    alert(tech)

    deliver()

    assert len(push_service.received(phone)) == 1 and len(push_service.received(tablet)) == 1
    assert push_service.received(theirs) == []


def test_gone_subscription_is_removed_and_later_alerts_skip_it(app, make_user, push_service, subscribe, alert,
                                                               deliver):
    tech = make_user("technician")
    old, new = push_service.subscribe([410]), push_service.subscribe()
    old_id = subscribe(tech, old)
    subscribe(tech, new)
    first = alert(tech)

    deliver()

    assert _note(app, first).push_status == "sent"  # the other device took it
    with app.app_context():
        assert db.session.get(PushSubscription, old_id) is None
        assert db.session.scalars(sa.select(PushDelivery.status).where(PushDelivery.notification_id == first)
                                  .order_by(PushDelivery.status)).all() == ["gone", "sent"]
    second = alert(tech)
    deliver()
    assert len(push_service.received(old)) == 1  # only the 410
    assert len(push_service.received(new, accepted=True)) == 2
    assert _deliveries(app, second) == [(1, "sent", 201)]


def test_only_device_gone_leaves_no_device(app, make_user, push_service, subscribe, alert, deliver):
    tech = make_user("technician")
    subscribe(tech, push_service.subscribe([404]))
    note_id = alert(tech)
    deliver()
    assert _note(app, note_id).push_status == "no_device"


def test_500_then_201_delivers_exactly_once(app, make_user, push_service, subscribe, alert, deliver, clock):
    tech = make_user("technician")
    device = push_service.subscribe([500])
    subscribe(tech, device)
    note_id = alert(tech)

    assert deliver()["retry"] == 1
    note = _note(app, note_id)
    assert note.push_status == "pending" and note.push_attempts == 1
    assert note.next_attempt_at == clock.current + timedelta(seconds=30)
    assert deliver() == {}  # not due yet
    clock.advance(seconds=31)
    assert deliver()["sent"] == 1
    clock.advance(hours=2)
    assert deliver() == {}

    assert [m.status for m in push_service.received(device)] == [500, 201]
    assert len(push_service.received(device, accepted=True)) == 1
    assert _deliveries(app, note_id) == [(1, "retry", 500), (2, "sent", 201)]
    assert _note(app, note_id).push_status == "sent"


def test_a_retry_goes_only_to_the_device_that_failed(app, make_user, push_service, subscribe, alert, deliver, clock):
    tech = make_user("technician")
    good, flaky = push_service.subscribe(), push_service.subscribe([503])
    subscribe(tech, good)
    subscribe(tech, flaky)
    alert(tech)

    deliver()
    clock.advance(minutes=5)
    deliver()

    assert len(push_service.received(good)) == 1
    assert [m.status for m in push_service.received(flaky)] == [503, 201]


def test_429_honours_retry_after(app, make_user, push_service, subscribe, alert, deliver, clock):
    tech = make_user("technician")
    device = push_service.subscribe([(429, {"Retry-After": "600"})])
    subscribe(tech, device)
    note_id = alert(tech)

    deliver()

    assert _note(app, note_id).next_attempt_at == clock.current + timedelta(seconds=600)
    clock.advance(seconds=599)
    assert deliver() == {}
    clock.advance(seconds=2)
    assert deliver()["sent"] == 1


def test_backoff_doubles_and_gives_up_at_the_cap(app, make_user, push_service, subscribe, alert, deliver, clock,
                                                  monkeypatch):
    monkeypatch.setitem(app.config, "PUSH_MAX_ATTEMPTS", 3)
    tech = make_user("technician")
    device = push_service.subscribe([500, 502, 500, 201])
    subscribe(tech, device)
    note_id = alert(tech)

    delays = []
    for _ in range(3):
        before = clock.current
        deliver()
        note = _note(app, note_id)
        if note.push_status != "pending":
            break
        delays.append((note.next_attempt_at - before).total_seconds())
        clock.set(note.next_attempt_at)

    assert delays == [30, 60]
    assert _note(app, note_id).push_status == "failed"
    assert len(push_service.received(device)) == 3  # the fourth (201) was never asked for
    clock.advance(days=1)
    assert deliver() == {}


def test_timeout_is_retried(app, make_user, push_service, subscribe, alert, deliver, clock, monkeypatch):
    monkeypatch.setitem(app.config, "PUSH_TIMEOUT_SECONDS", 0.3)
    tech = make_user("technician")
    device = push_service.subscribe([("sleep", 1.0)])
    subscribe(tech, device)
    note_id = alert(tech)

    assert deliver()["retry"] == 1
    with app.app_context():
        assert db.session.scalar(sa.select(PushDelivery.error)) in ("ReadTimeout", "Timeout", "ConnectionError")
    clock.advance(minutes=1)
    assert deliver()["sent"] == 1
    assert _note(app, note_id).push_status == "sent"


def test_no_device_when_the_user_has_no_subscription(app, make_user, push_service, alert, deliver):
    note_id = alert(make_user("technician"))
    assert deliver()["alert_no_device"] == 1
    assert _note(app, note_id).push_status == "no_device"
    assert push_service.received() == []


def test_a_push_service_no_longer_allowed_is_not_posted_to(app, make_user, push_service, subscribe, alert, deliver,
                                                           monkeypatch):
    tech = make_user("technician")
    device = push_service.subscribe()
    subscribe(tech, device)
    note_id = alert(tech)
    monkeypatch.setitem(app.config, "PUSH_ALLOWED_ORIGINS", ["https://fcm.googleapis.com"])

    deliver()

    assert push_service.received() == []
    assert _note(app, note_id).push_status == "failed"


def test_restart_between_enqueue_and_delivery_loses_nothing(app, make_user, push_service, subscribe, alert):
    tech = make_user("technician")
    device = push_service.subscribe()
    subscribe(tech, device)
    note_id = alert(tech)  # committed by the first process, which then goes away

    restarted = _another_app(app)
    try:
        with restarted.app_context():
            stats = push.deliver_due()
    finally:
        with restarted.app_context():
            db.engine.dispose()

    assert stats["sent"] == 1
    assert len(push_service.received(device, accepted=True)) == 1
    assert _note(app, note_id).push_status == "sent"


def test_a_claimed_alert_is_not_taken_by_another_worker_until_its_lease_ends(app, make_user, alert, clock):
    tech = make_user("technician")
    note_id = alert(tech)
    with app.app_context():
        token_a, claimed_a = push.claim_due(10, lease_seconds=300)
    with app.app_context():
        token_b, claimed_b = push.claim_due(10, lease_seconds=300)
    assert [n.id for n in claimed_a] == [note_id] and claimed_b == []

    clock.advance(seconds=301)  # worker A died: its claim lapses and B takes the row
    with app.app_context():
        token_b, claimed_b = push.claim_due(10, lease_seconds=300)
    assert [n.id for n in claimed_b] == [note_id] and token_b != token_a
    # A wakes up late: its guarded settle no longer touches the row B holds
    with app.app_context():
        changed = db.session.execute(sa.update(outbox.Notification).where(
            outbox.Notification.id == note_id, outbox.Notification.claim_token == token_a)
            .values(push_status="sent")).rowcount
        db.session.commit()
    assert changed == 0 and _note(app, note_id).claim_token == token_b


def test_a_claim_takes_at_most_its_limit_oldest_first(app, make_user, alert, clock):
    tech = make_user("technician")
    ids = []
    for _ in range(5):
        ids.append(alert(tech))
        clock.advance(seconds=1)
    with app.app_context():
        first = [n.id for n in push.claim_due(2, lease_seconds=300)[1]]
        second = [n.id for n in push.claim_due(2, lease_seconds=300)[1]]
    assert first == ids[:2] and second == ids[2:4]


def test_crash_after_send_before_commit_resends_with_the_same_topic_and_tag(app, make_user, push_service, subscribe,
                                                                            alert, deliver, clock, monkeypatch):
    """The documented at-least-once window: the copy replaces the first on the service and the phone."""
    tech = make_user("technician")
    device = push_service.subscribe()
    subscribe(tech, device)
    note_id = alert(tech, order_id=9)
    real_send = push.send_one

    def send_then_die(*args, **kwargs):
        real_send(*args, **kwargs)
        raise KeyboardInterrupt("process killed")

    monkeypatch.setattr(push, "send_one", send_then_die)
    with pytest.raises(KeyboardInterrupt), app.app_context():
        push.deliver_due()
    monkeypatch.setattr(push, "send_one", real_send)

    assert deliver() == {}  # the dead worker's claim still holds: nobody sends twice meanwhile
    clock.advance(seconds=app.config.get("PUSH_CLAIM_SECONDS", 300) + 1)
    assert deliver()["sent"] == 1

    first, second = push_service.received(device)
    assert first.headers["topic"] == second.headers["topic"] == "order-9"
    assert first.payload["tag"] == second.payload["tag"] == "order-9"
    assert _note(app, note_id).push_status == "sent"


def test_delivery_refuses_to_run_inside_a_web_request(app):
    with app.test_request_context("/"), pytest.raises(RuntimeError):
        push.deliver_due()


def test_the_periodic_job_delivers(app, make_user, push_service, subscribe, alert):
    job = dict(scheduler.jobs_of(app))["push_delivery"]
    tech = make_user("technician")
    device = push_service.subscribe()
    subscribe(tech, device)
    alert(tech)
    with app.app_context():
        result = job()
    assert result["sent"] == 1 and len(push_service.received(device)) == 1


def _queue(make_user, push_service, subscribe, alert, *, users, alerts):
    """Technicians with one device each, and alerts queued for them in turn; returns the alert ids."""
    techs = [make_user("technician") for _ in range(users)]
    for tech in techs:
        subscribe(tech, push_service.subscribe())
    return [alert(techs[i % users]) for i in range(alerts)]


def test_two_workers_sequentially_share_the_queue(app, make_user, push_service, subscribe, alert):
    """SQLite and PostgreSQL: two app instances draining in turns send each alert once."""
    ids = _queue(make_user, push_service, subscribe, alert, users=3, alerts=12)
    other = _another_app(app)
    try:
        for worker in (app, other, app, other):
            with worker.app_context():
                push.deliver_due(max_alerts=4, batch_size=2)
    finally:
        with other.app_context():
            db.engine.dispose()
    assert len(push_service.received(accepted=True)) == 12
    assert all(_note(app, i).push_status == "sent" for i in ids)


@pytest.mark.postgres_only
def test_two_workers_at_once_send_each_alert_once(app, make_user, push_service, subscribe, alert):
    ids = _queue(make_user, push_service, subscribe, alert, users=4, alerts=60)
    workers = [app, _another_app(app)]
    start = threading.Barrier(4)
    results, failures = [], []

    def run(worker):
        try:
            with worker.app_context():
                start.wait()
                results.append(push.deliver_due(batch_size=3))
        except Exception as err:  # noqa: BLE001 - reported below
            failures.append(err)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers * 2]  # four workers, two apps
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with workers[1].app_context():
        db.engine.dispose()

    assert failures == []
    assert sum(r.get("alerts", 0) for r in results) == 60
    assert sum(1 for r in results if r.get("alerts")) >= 2, results  # the work really was shared
    payloads = [(m.device, m.payload["url"]) for m in push_service.received(accepted=True)]
    assert len(payloads) == 60 and len(set(payloads)) == 60
    assert all(_note(app, i).push_status == "sent" for i in ids)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PushDelivery)) == 60


def test_vapid_claims_are_fresh_for_every_push_service(app, make_user, push_service, subscribe, alert, deliver):
    """Two push services: each message's `aud` is its own service (no claims dict shared between sends)."""
    from pushservice import PushService
    second = PushService()
    app.config["PUSH_ALLOWED_ORIGINS"] = [*app.config["PUSH_ALLOWED_ORIGINS"], second.origin]
    try:
        tech = make_user("technician")
        a, b = push_service.subscribe(), second.subscribe()
        subscribe(tech, a)
        subscribe(tech, b)
        alert(tech)
        alert(tech)
        deliver()
        assert push_service.errors == [] and second.errors == []
        assert [m.claims["aud"] for m in push_service.received()] == [push_service.origin] * 2
        assert [m.claims["aud"] for m in second.received()] == [second.origin] * 2
        assert all(m.claims["exp"] <= time.time() + 24 * 3600 for m in push_service.received())
    finally:
        second.close()


def test_a_redirecting_push_service_is_not_followed(app, make_user, push_service, subscribe, alert, deliver):
    tech = make_user("technician")
    elsewhere = push_service.subscribe()  # a would-be target of the redirect
    device = push_service.subscribe([(307, {"Location": elsewhere.endpoint})])
    subscribe(tech, device)
    note_id = alert(tech)

    deliver()

    assert push_service.received(elsewhere) == []
    assert _note(app, note_id).push_status == "failed"
    assert _deliveries(app, note_id) == [(1, "failed", None)]


def test_topic_is_url_safe_and_at_most_32_characters(app):
    note = outbox.Notification(id=5, kind="escalated", title="t", body="", url="/", urgency="high",
                               topic="incident:2026/03/02 Futian north — cable cut", order_id=None)
    assert push.topic_for(note) == "incident-2026-03-02-Futian-north"
    assert push.topic_for(outbox.Notification(id=6, order_id=None, topic=None)) is None
    assert push.topic_for(outbox.Notification(id=7, order_id=31, topic=None)) == "order-31"


def test_retry_after_as_seconds_or_http_date(clock):
    assert push._retry_after("120") == 120
    assert push._retry_after("Mon, 02 Mar 2026 01:10:00 GMT") == 600  # the clock says 01:00 UTC
    assert push._retry_after("soon") is None and push._retry_after(None) is None


def test_a_device_removed_while_its_message_is_in_flight_keeps_the_record(app, make_user, push_service, subscribe,
                                                                          alert, deliver, monkeypatch):
    """The user unsubscribes (or another worker saw a 410) between our POST and our commit."""
    from field import services
    tech = make_user("technician")
    device = push_service.subscribe()
    subscribe(tech, device)
    note_id = alert(tech)
    real_send = push.send_one

    def send_then_unsubscribe(*args, **kwargs):
        outcome = real_send(*args, **kwargs)
        with app.app_context():  # another request, committed before our bookkeeping
            services.unsubscribe(tech, device.endpoint)
            db.session.commit()
        return outcome

    monkeypatch.setattr(push, "send_one", send_then_unsubscribe)
    assert deliver()["sent"] == 1

    assert _note(app, note_id).push_status == "sent"
    with app.app_context():
        assert db.session.execute(sa.select(PushDelivery.subscription_id, PushDelivery.status)).all() == [(None, "sent")]
    assert deliver() == {}


def test_push_deliver_command_sends_and_prints_counts(app, runner, make_user, push_service, subscribe, alert):
    tech = make_user("technician")
    device = push_service.subscribe()
    subscribe(tech, device)
    alert(tech)
    result = runner.invoke(args=["push", "deliver"])
    assert result.exit_code == 0, result.output
    assert '"alert_sent": 1' in result.output and '"sent": 1' in result.output
    assert len(push_service.received(device, accepted=True)) == 1
