"""The Web Push routes: the VAPID key, subscribing and unsubscribing devices."""
from __future__ import annotations

import base64
import os
import stat
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from core.extensions import db
from field import push
from field.models import PushSubscription

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pushservice.py, push_fixtures.py (no packages)
from push_fixtures import push_service  # noqa: E402,F401  (fixtures)

URL = "/field/push/subscriptions"


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _subs(app, user_id=None):
    with app.app_context():
        stmt = sa.select(PushSubscription).order_by(PushSubscription.id)
        if user_id is not None:
            stmt = stmt.where(PushSubscription.user_id == user_id)
        return [(s.user_id, s.endpoint, s.p256dh, s.auth) for s in db.session.scalars(stmt)]


def test_vapid_command_creates_the_key_once_private_and_prints_it(app, tmp_path):
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path), "SCHEDULER_ENABLED": False})
    runner = other.test_cli_runner()
    first = runner.invoke(args=["push", "vapid"])
    second = runner.invoke(args=["push", "vapid"])
    with other.app_context():
        db.engine.dispose()

    assert first.exit_code == 0 and second.exit_code == 0
    key_line = first.output.splitlines()[0]
    assert second.output.splitlines()[0] == key_line  # kept, not replaced
    raw = base64.urlsafe_b64decode(key_line + "=" * (-len(key_line) % 4))
    assert len(raw) == 65 and raw[0] == 4
    pem = tmp_path / push.VAPID_FILE
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
    assert b"PRIVATE KEY" in pem.read_bytes()


def test_public_key_route_gives_the_instance_key_to_any_user(app, client, as_role):
    as_role("dispatcher")
    resp = client.get("/field/push/vapid-public-key")
    assert resp.status_code == 200
    with app.app_context():
        assert resp.get_json() == {"publicKey": push.public_key()}


def test_public_key_route_needs_a_login(client):
    assert client.get("/field/push/vapid-public-key").status_code == 401


def test_subscribe_several_devices_then_unsubscribe_one(app, client, as_role, push_service):
    tech = as_role("technician")
    phone, tablet = push_service.subscribe(), push_service.subscribe()

    assert client.post(URL, json=phone.subscription()).status_code == 201
    resp = client.post(URL, json=tablet.subscription())
    assert resp.status_code == 201 and resp.get_json()["origin"] == push_service.origin
    assert client.post(URL, json=phone.subscription()).status_code == 201  # again: updated, not doubled
    assert [s[1] for s in _subs(app, tech.id)] == [phone.endpoint, tablet.endpoint]

    assert client.delete(URL, json={"endpoint": phone.endpoint}).status_code == 204
    assert [s[1] for s in _subs(app, tech.id)] == [tablet.endpoint]
    assert client.delete(URL, json={"endpoint": phone.endpoint}).status_code == 404


def test_keys_are_stored_canonical_and_as_sent(app, client, as_role, push_service):
    tech = as_role("supervisor")
    device = push_service.subscribe()
    body = device.subscription()
    body["keys"]["auth"] += "=="  # padded base64url is accepted and stored unpadded
    assert client.post(URL, json=body).status_code == 201
    [(user_id, endpoint, p256dh, auth)] = _subs(app)
    assert user_id == tech.id and endpoint == device.endpoint
    assert p256dh == device.subscription()["keys"]["p256dh"] and auth == b64u(device.auth)


def test_bearer_token_works_and_a_stored_device_does_not_move_to_another_user(app, client, make_user, token_for,
                                                                              push_service):
    first, second = make_user("technician"), make_user("technician")
    device, other = push_service.subscribe(), push_service.subscribe()
    assert client.post(URL, json=device.subscription(), headers=token_for(first)).status_code == 201
    before = _subs(app)
    # whoever learns the endpoint cannot take the first user's alerts, with their keys or their own
    for keys in (device.subscription()["keys"], other.subscription()["keys"]):
        resp = client.post(URL, json={"endpoint": device.endpoint, "keys": keys}, headers=token_for(second))
        assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "endpoint_taken"
    assert _subs(app) == before and before[0][0] == first.id
    # nor remove it
    assert client.delete(URL, json={"endpoint": device.endpoint}, headers=token_for(second)).status_code == 404


def test_logout_frees_the_device_for_the_next_user(app, make_user, login, push_service):
    first, second = make_user("technician"), make_user("technician")
    phone, tablet = push_service.subscribe(), push_service.subscribe()
    on_tablet = app.test_client()
    login(first, c=on_tablet)
    assert on_tablet.post(URL, json=tablet.subscription()).status_code == 201
    shared = app.test_client()
    login(first, c=shared)
    assert shared.post(URL, json=phone.subscription()).status_code == 201
    assert shared.post("/logout").status_code == 302
    assert _subs(app) == [(first.id, tablet.endpoint, *_keys(tablet))]  # the tablet is still theirs
    login(second, c=shared)
    assert shared.post(URL, json=phone.subscription()).status_code == 201  # the browser re-sends it
    assert [(s[0], s[1]) for s in _subs(app)] == [(first.id, tablet.endpoint), (second.id, phone.endpoint)]


def _keys(device) -> tuple[str, str]:
    keys = device.subscription()["keys"]
    return keys["p256dh"], keys["auth"]


@pytest.mark.parametrize("endpoint", [
    "https://evil.example.com/push/abc",
    "https://fcm.googleapis.com.evil.example/push",
    "http://fcm.googleapis.com/fcm/send/abc",  # not https
    "https://user:pw@fcm.googleapis.com/fcm/send/abc",
    "https://fcm.googleapis.com:8443/fcm/send/abc",
    "ftp://fcm.googleapis.com/x",
    "not a url",
    "",
    42,
])
def test_endpoint_outside_the_allowed_push_services_is_refused(app, client, as_role, push_service, endpoint):
    as_role("technician")
    body = push_service.subscribe().subscription()
    body["endpoint"] = endpoint
    resp = client.post(URL, json=body)
    assert resp.status_code == 422
    assert "endpoint" in resp.get_json()["error"]["fields"]
    assert _subs(app) == []


def test_allowed_push_service_origins():
    allowed = ["https://fcm.googleapis.com", "https://*.notify.windows.com", "http://127.0.0.1:5999"]
    assert push.origin_allowed("https://fcm.googleapis.com", allowed)
    assert push.origin_allowed(push.origin_of("https://FCM.googleapis.com:443/fcm/send/x"), allowed)
    assert push.origin_allowed("https://wns2-par02p.notify.windows.com", allowed)
    assert not push.origin_allowed("https://notify.windows.com.evil.example", allowed)
    assert not push.origin_allowed("http://x.notify.windows.com", allowed)
    assert push.origin_allowed("http://127.0.0.1:5999", allowed)
    assert not push.origin_allowed("http://127.0.0.1:6000", allowed)


def _with_keys(device, **keys):
    body = device.subscription()
    body["keys"].update(keys)
    return body


@pytest.mark.parametrize("keys, field", [
    ({"p256dh": b64u(b"\x04" + b"\x01" * 63)}, "p256dh"),  # 64 bytes
    ({"p256dh": b64u(b"\x02" + b"\x01" * 64)}, "p256dh"),  # 65 bytes, not uncompressed
    ({"p256dh": b64u(b"\x04" + b"\x01" * 64)}, "p256dh"),  # right shape, not on the curve
    ({"p256dh": "not*base64url!"}, "p256dh"),
    ({"p256dh": 7}, "p256dh"),
    ({"auth": b64u(b"\x00" * 15)}, "auth"),
    ({"auth": b64u(b"\x00" * 17)}, "auth"),
    ({"auth": "a+b/"}, "auth"),  # base64, not base64url
    ({"auth": None}, "auth"),
])
def test_malformed_keys_are_refused(app, client, as_role, push_service, keys, field):
    as_role("technician")
    resp = client.post(URL, json=_with_keys(push_service.subscribe(), **keys))
    assert resp.status_code == 422, resp.get_json()
    assert field in resp.get_json()["error"]["fields"]
    assert _subs(app) == []


def test_missing_keys_are_refused(client, as_role, push_service):
    as_role("technician")
    body = push_service.subscribe().subscription()
    del body["keys"]
    assert client.post(URL, json=body).status_code == 422


@pytest.mark.parametrize("data, content_type", [
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    ("endpoint=x", "application/x-www-form-urlencoded"),
])
def test_bad_json_is_a_400(client, as_role, data, content_type):
    as_role("technician")
    resp = client.post(URL, data=data, content_type=content_type)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_request"
    assert client.delete(URL, data=data, content_type=content_type).status_code == 400


def test_subscriptions_need_a_login(client, push_service):
    assert client.post(URL, json=push_service.subscribe().subscription()).status_code == 401


def test_a_user_keeps_at_most_ten_devices(app, client, as_role, push_service):
    tech = as_role("technician")
    devices = [push_service.subscribe() for _ in range(12)]
    for d in devices:
        assert client.post(URL, json=d.subscription()).status_code == 201
    kept = [s[1] for s in _subs(app, tech.id)]
    assert len(kept) == 10 and devices[-1].endpoint in kept


def test_subscribing_is_audited_once_and_resending_changes_nothing(app, client, as_role, push_service):
    from core.audit import AuditEvent
    as_role("technician")
    device = push_service.subscribe()
    for _ in range(3):  # the page re-posts its subscription on every visit
        assert client.post(URL, json=device.subscription()).status_code == 201
    client.delete(URL, json={"endpoint": device.endpoint})
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "push_subscription")
                                     .order_by(AuditEvent.id)).all()
    assert actions == ["push_subscribe", "push_unsubscribe"]


def test_public_key_route_creates_the_key_when_missing(app, make_user, tmp_path):
    fresh = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path), "SCHEDULER_ENABLED": False,
                        "WTF_CSRF_ENABLED": False})
    user = make_user("stockkeeper")
    client = fresh.test_client()
    assert client.post("/login", data={"username": user.username, "password": "password123"}).status_code == 302
    resp = client.get("/field/push/vapid-public-key")
    with fresh.app_context():
        expected = push.public_key()
        db.engine.dispose()
    assert resp.status_code == 200 and resp.get_json() == {"publicKey": expected}
    assert stat.S_IMODE(os.stat(tmp_path / push.VAPID_FILE).st_mode) == 0o600
