"""Accounts: login, throttling, sessions that end, API tokens."""
from __future__ import annotations


import pytest
import sqlalchemy as sa

from core import auth
from core.audit import AuditEvent
from core.extensions import db


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_login_redirects_to_the_role_landing_page(client, make_user, make_station):
    station = make_station()
    expected = {"admin": "/admin/", "dispatcher": "/dispatch/", "supervisor": "/dispatch/",
                "technician": "/field/", "stockkeeper": "/inventory/"}
    for role, landing in expected.items():
        user = make_user(role, station=station)
        c = client.application.test_client()
        resp = c.post("/login", data={"username": user.username, "password": "password123"})
        assert resp.status_code == 302 and resp.headers["Location"] == landing, role
        assert c.get(landing).status_code == 200


def test_wrong_password_is_refused_and_audited(client, make_user, app):
    user = make_user("dispatcher")
    resp = client.post("/login", data={"username": user.username, "password": "nope-nope"})
    assert resp.status_code == 401
    assert "Wrong username or password" in resp.get_data(as_text=True)
    assert client.get("/dispatch/").status_code == 302  # still anonymous
    assert "login.failed" in audit_actions(app)


def test_unknown_user_gets_the_same_answer(client):
    resp = client.post("/login", data={"username": "ghost", "password": "whatever1"})
    assert resp.status_code == 401
    assert "Wrong username or password" in resp.get_data(as_text=True)


def test_empty_form_is_a_clear_error(client):
    resp = client.post("/login", data={})
    assert resp.status_code == 400
    assert "Enter your username and password" in resp.get_data(as_text=True)


def test_login_is_throttled_per_user_and_address_even_with_the_right_password(client, make_user, app):
    user = make_user("dispatcher")
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_USER_AND_ADDRESS"]):
        assert client.post("/login", data={"username": user.username, "password": "badpass99"}).status_code == 401
    resp = client.post("/login", data={"username": user.username, "password": "password123"})
    assert resp.status_code == 429
    assert "Too many failed attempts" in resp.get_data(as_text=True)


def test_throttle_expires_after_the_window(client, make_user, app, clock):
    user = make_user("dispatcher")
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_USER_AND_ADDRESS"]):
        client.post("/login", data={"username": user.username, "password": "badpass99"})
    clock.advance(seconds=app.config["LOGIN_FAILURE_WINDOW_SECONDS"] + 1)
    assert client.post("/login", data={"username": user.username, "password": "password123"}).status_code == 302


def test_login_is_throttled_per_address(client, make_user, app):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    try:
        for n in range(3):
            client.post("/login", data={"username": f"someone{n}", "password": "badpass99"})
        user = make_user("dispatcher")
        resp = client.post("/login", data={"username": user.username, "password": "password123"})
        assert resp.status_code == 429
        other = app.test_client()
        resp = other.post("/login", data={"username": user.username, "password": "password123"},
                          environ_base={"REMOTE_ADDR": "10.9.9.9"})
        assert resp.status_code == 302
    finally:
        app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 20


def test_logout_ends_the_session(client, as_role):
    as_role("dispatcher")
    assert client.get("/dispatch/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/dispatch/").status_code == 302


def test_password_change_ends_other_sessions_and_tokens(client, make_user, login, token_for, app):
    user = make_user("dispatcher")
    login(user)
    headers = token_for(user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with app.app_context():
        auth.set_password(db.session.get(auth.User, user.id), "brand-new-pass")
        db.session.commit()
    assert client.get("/dispatch/").status_code == 302
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_disabled_user_is_logged_out_and_cannot_log_in(client, make_user, login, app):
    user = make_user("dispatcher")
    login(user)
    with app.app_context():
        auth.set_enabled(db.session.get(auth.User, user.id), False)
        db.session.commit()
    assert client.get("/dispatch/").status_code == 302
    assert client.post("/login", data={"username": user.username, "password": "password123"}).status_code == 401


def test_open_redirect_after_login_is_refused(client, make_user):
    user = make_user("dispatcher")
    resp = client.post("/login", data={"username": user.username, "password": "password123",
                                       "next": "https://evil.example/"})
    assert resp.headers["Location"] == "/dispatch/"
    client.post("/logout")
    resp = client.post("/login", data={"username": user.username, "password": "password123",
                                       "next": "/admin/users"})
    assert resp.headers["Location"] == "/admin/users"


def test_password_is_hashed(app, make_user):
    user = make_user("admin")
    with app.app_context():
        stored = db.session.get(auth.User, user.id).password_hash
    assert "password123" not in stored and stored.startswith("pbkdf2:")


@pytest.mark.parametrize("username,role,password,field", [
    ("A b", "dispatcher", "password123", "username"),
    ("okname", "boss", "password123", "role"),
    ("okname", "dispatcher", "short", "password"),
    ("okname", "technician", "password123", "station"),
])
def test_create_user_refuses_bad_input(ctx, username, role, password, field):
    with pytest.raises(auth.Invalid) as err:
        auth.create_user(username, role, password)
    assert field in err.value.fields
    assert db.session.scalar(sa.select(sa.func.count()).select_from(auth.User)) == 0


def test_users_create_command(runner, make_station, app):
    make_station("S07")
    result = runner.invoke(args=["users", "create", "li.ming", "--role", "technician", "--station", "S07",
                                 "--password", "secret-pass"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = auth.find_user("li.ming")
        assert user.role == "technician" and user.station.code == "S07"
    again = runner.invoke(args=["users", "create", "li.ming", "--role", "technician", "--station", "S07",
                                "--password", "secret-pass"])
    assert again.exit_code != 0 and "taken" in again.output
    bad = runner.invoke(args=["users", "create", "x2", "--role", "technician", "--station", "NOPE",
                              "--password", "secret-pass"])
    assert bad.exit_code != 0 and "No station" in bad.output


# --- API tokens --------------------------------------------------------------

def test_token_flow(client, make_user, app):
    user = make_user("dispatcher", full_name="Wang Fang")
    resp = client.post("/api/v1/auth/tokens", json={"username": user.username, "password": "password123"})
    assert resp.status_code == 201
    token = resp.get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["username"] == user.username and me["role"] == "dispatcher"
    with app.app_context():
        stored = db.session.scalar(sa.select(auth.ApiToken.token_hash))
    assert token not in stored  # only the hash is kept
    assert "token.issue" in audit_actions(app)
    assert client.delete("/api/v1/auth/tokens/current", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_token_refused_for_bad_credentials_and_bad_body(client, make_user):
    user = make_user("dispatcher")
    resp = client.post("/api/v1/auth/tokens", json={"username": user.username, "password": "wrong-one"})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "login_refused"
    resp = client.post("/api/v1/auth/tokens", data="{not json", content_type="application/json")
    assert resp.status_code == 400 and "error" in resp.get_json()
    resp = client.post("/api/v1/auth/tokens", json={"username": 5, "password": []})
    assert resp.status_code == 422


def test_expired_and_unknown_tokens_are_refused(client, make_user, token_for, clock, app):
    user = make_user("dispatcher")
    headers = token_for(user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.advance(hours=app.config["API_TOKEN_LIFETIME_HOURS"] + 1)
    resp = client.get("/api/v1/me", headers=headers)
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer r24_made_up"}).status_code == 401


def test_bearer_calls_need_no_csrf_but_session_posts_do(make_user, new_app):
    strict = new_app(WTF_CSRF_ENABLED=True)
    user = make_user("admin")
    c = strict.test_client()
    resp = c.post("/api/v1/auth/tokens", json={"username": user.username, "password": "password123"})
    assert resp.status_code == 201  # public, keyed by the password itself
    headers = {"Authorization": f"Bearer {resp.get_json()['token']}"}
    assert c.delete("/api/v1/auth/tokens/current", headers=headers).status_code == 204
    # a form post without the token is refused and changes nothing
    resp = c.post("/login", data={"username": user.username, "password": "password123"})
    assert resp.status_code == 400
    assert c.get("/admin/").status_code == 302


def test_token_stops_at_its_lifetime(ctx, make_user, clock):
    user = db.session.get(auth.User, make_user("dispatcher").id)
    token = auth.issue_token(user, "t", lifetime_hours=1)
    assert auth.user_for_token(token).id == user.id
    clock.advance(minutes=61)
    assert auth.user_for_token(token) is None


# --- sessions end on the server ----------------------------------------------

def test_a_cookie_captured_before_logout_is_refused_after_it(app, make_user, login):
    user = make_user("dispatcher")
    laptop, phone = app.test_client(), app.test_client()
    login(user, c=laptop)
    login(user, c=phone)
    captured = laptop.get_cookie("session").value
    assert laptop.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", captured)
    assert thief.get("/dispatch/").status_code == 302  # the signed cookie alone no longer logs in
    assert thief.get("/api/v1/me").status_code == 401
    assert phone.get("/dispatch/").status_code == 200  # logging out one device leaves the others


def test_password_change_ends_every_session_record(app, make_user, login):
    user = make_user("dispatcher")
    first, second = app.test_client(), app.test_client()
    login(user, c=first)
    login(user, c=second)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(auth.UserSession)) == 2
        auth.set_password(db.session.get(auth.User, user.id), "brand-new-pass")
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(auth.UserSession)) == 0
    assert first.get("/dispatch/").status_code == 302 and second.get("/dispatch/").status_code == 302


def test_sessions_end_after_their_lifetime_and_are_purged(app, make_user, login, clock):
    user = make_user("dispatcher")
    login(user)
    client = app.test_client()
    login(user, c=client)
    clock.advance(seconds=app.permanent_session_lifetime.total_seconds() - 60)
    assert client.get("/dispatch/").status_code == 200
    clock.advance(seconds=120)
    with app.app_context():
        assert auth.purge_expired_sessions().startswith("2 ")
        db.session.commit()
    assert client.get("/dispatch/").status_code == 302


# --- login timing and throttling ---------------------------------------------

def test_an_unknown_user_costs_a_password_check_like_a_known_one(client, make_user, monkeypatch, app):
    checked: list[str] = []
    real = auth.check_password_hash

    def spy(pwhash: str, password: str) -> bool:
        checked.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(auth, "check_password_hash", spy)
    user = make_user("dispatcher")
    assert client.post("/login", data={"username": user.username, "password": "nope-nope"}).status_code == 401
    assert client.post("/login", data={"username": "ghost", "password": "whatever1"}).status_code == 401
    with app.app_context():
        auth.set_enabled(db.session.get(auth.User, user.id), False)
        db.session.commit()
    assert client.post("/login", data={"username": user.username, "password": "password123"}).status_code == 401
    # one hash of the same method each time: the unknown name is not answered faster
    assert checked == [app.config["PASSWORD_HASH_METHOD"]] * 3


def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(app, make_user):
    user = make_user("dispatcher")
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.66"
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_USER_AND_ADDRESS"]):
        assert attacker.post("/login", data={"username": user.username, "password": "guess-1234"}).status_code == 401
    assert attacker.post("/login", data={"username": user.username, "password": "password123"}).status_code == 429
    victim = app.test_client()
    victim.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert victim.post("/login", data={"username": user.username, "password": "password123"}).status_code == 302


# --- bearer reads write nothing ----------------------------------------------

class Writes:
    """The INSERT/UPDATE/DELETE statements the app's engine runs while listening."""

    def __init__(self, app):
        self.app, self.seen = app, []

    def _listen(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.seen.append(" ".join(statement.split()[:3]))

    def __enter__(self):
        with self.app.app_context():
            self.engine = db.engine
        sa.event.listen(self.engine, "before_cursor_execute", self._listen)
        return self.seen

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._listen)


def test_a_bearer_get_writes_nothing_and_notes_the_last_use_once_a_minute(app, client, make_user,
                                                                         token_for, clock):
    headers = token_for(make_user("dispatcher"))
    with Writes(app) as first:
        assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert first == ["UPDATE api_tokens SET"]  # the first use is noted
    clock.advance(seconds=30)
    with Writes(app) as soon:
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        assert client.get("/api/v1/stations", headers=headers).status_code == 200
    assert soon == []
    clock.advance(seconds=31)
    with Writes(app) as later:
        assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert later == ["UPDATE api_tokens SET"]
    with app.app_context():
        assert db.session.scalar(sa.select(auth.ApiToken.last_used_at)) == clock.current
    assert "token.use" not in audit_actions(app)
