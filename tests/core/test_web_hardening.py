"""Security headers, cookies, size limits, trusted hosts and error pages."""
from __future__ import annotations


def test_security_headers_on_every_page(client):
    resp = client.get("/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert "script-src 'self' 'nonce-" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_csp_allows_the_tile_server_for_images(client, app):
    csp = client.get("/login").headers["Content-Security-Policy"]
    assert "https://tile.openstreetmap.org" in csp


def test_nonce_changes_per_response(client):
    a = client.get("/login").headers["Content-Security-Policy"]
    b = client.get("/login").headers["Content-Security-Policy"]
    assert a != b


def test_session_cookie_flags(client, make_user):
    user = make_user("dispatcher")
    resp = client.post("/login", data={"username": user.username, "password": "password123"})
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    resp = client.post("/login", data={"username": user.username, "password": "password123"},
                       base_url="https://localhost")
    assert "Secure" in resp.headers["Set-Cookie"]


def test_body_over_the_limit_is_413_json_under_api(client, app):
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    resp = client.post("/api/v1/auth/tokens", data=big, content_type="application/json")
    assert resp.status_code == 413 and resp.get_json()["error"]["code"] == "too_large"


def test_trusted_hosts(new_app):
    app = new_app(TRUSTED_HOSTS=["restore24.example.org"])
    c = app.test_client()
    assert c.get("/login", base_url="http://evil.example").status_code == 400
    assert c.get("/login", base_url="http://restore24.example.org").status_code == 200


def test_error_pages_and_json_errors(client, as_role):
    assert client.get("/no/such/page").status_code == 404
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    resp = client.get("/api/v1/me")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    as_role("technician")
    page = client.get("/admin/")
    assert page.status_code == 403 and "You do not have access" in page.get_data(as_text=True)
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200


def test_unexpected_error_is_a_500_page_without_details(new_app):
    app = new_app()
    from core.access import public

    @app.route("/boom")
    @public
    def boom():
        raise RuntimeError("secret detail")

    resp = app.test_client().get("/boom")
    assert resp.status_code == 500 and "secret detail" not in resp.get_data(as_text=True)


def test_openapi_lists_every_api_route(client, app):
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "core_api.openapi":
            continue
        path = rule.rule[len("/api/v1"):]
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", "{" + arg + "}").replace(f"<{arg}>", "{" + arg + "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if (path, method.lower()) not in documented:
                missing.append((path, method))
    assert not missing, missing


def test_nul_characters_are_refused_before_any_query(client, as_role):
    as_role("admin")
    assert client.get("/admin/customers?q=a%00b").status_code == 400
    resp = client.get("/api/v1/stations?x=%00")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_request"
    resp = client.post("/admin/customers/new", data={"account_no": "8800\x00001", "name": "A", "phone": "13800000000"})
    assert resp.status_code == 400
    resp = client.post("/api/v1/auth/tokens", json={"username": "a\x00", "password": "b"})
    assert resp.status_code == 400


def _csrf_token(c) -> str:
    import re
    page = c.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def _strict_login(strict, user):
    c = strict.test_client()
    resp = c.post("/login", data={"username": user.username, "password": "password123",
                                  "csrf_token": _csrf_token(c)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return c


def test_a_junk_bearer_header_does_not_skip_csrf_for_a_cookie_session(make_user, new_app):
    strict = new_app(WTF_CSRF_ENABLED=True)
    c = _strict_login(strict, make_user("dispatcher"))
    junk = {"Authorization": "Bearer junk"}
    resp = c.post("/api/v1/orders", json={"description": "forged"}, headers=junk)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "csrf"
    assert c.post("/logout", headers=junk).status_code == 400
    assert c.get("/dispatch/").status_code == 200  # still logged in: the forged logout did nothing
    token = _csrf_token(c)
    resp = c.post("/api/v1/orders", json={"description": "mine"}, headers={**junk, "X-CSRFToken": token})
    assert resp.status_code == 422  # with the token the cookie session is served (and validated)


def test_an_unauthenticated_api_write_is_401_not_a_csrf_error(new_app):
    strict = new_app(WTF_CSRF_ENABLED=True)
    c = strict.test_client()
    resp = c.post("/api/v1/orders", json={})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    resp = c.post("/api/v1/orders", json={}, headers={"Authorization": "Bearer junk"})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    assert strict.test_client().post("/login", data={"username": "x", "password": "y"}).status_code == 400


def test_405_names_the_allowed_methods(client):
    resp = client.delete("/login")
    assert resp.status_code == 405
    assert {m.strip() for m in resp.headers["Allow"].split(",")} >= {"GET", "POST"}
    resp = client.put("/api/v1/me")
    assert resp.status_code == 405 and resp.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"] and "PUT" not in resp.headers["Allow"]


def test_external_links_take_their_host_from_the_settings_not_the_request(new_app):
    from core.links import external_url
    configured = new_app(PUBLIC_BASE_URL="https://restore24.example.org/")
    with configured.test_request_context("/", base_url="http://evil.example"):
        assert external_url("reports.feedback", token="abc") == "https://restore24.example.org/reports/feedback/abc"
    named = new_app(SERVER_NAME="restore24.example.org", TESTING=False)
    with named.test_request_context("/", base_url="http://evil.example"):
        assert external_url("reports.feedback", token="abc") == "http://restore24.example.org/reports/feedback/abc"
    bare = new_app(TESTING=False)
    with bare.test_request_context("/", base_url="http://evil.example"):
        from core.errors import DomainError
        try:
            external_url("reports.feedback", token="abc")
        except DomainError as err:
            assert err.code == "no_public_url"
        else:
            raise AssertionError("a link was built from the request's Host header")


def test_startup_warns_when_external_links_have_no_configured_host(new_app, caplog):
    with caplog.at_level("WARNING", logger="app"):
        new_app(TESTING=False)
    assert any("PUBLIC_BASE_URL" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="app"):
        new_app(TESTING=False, PUBLIC_BASE_URL="https://restore24.example.org")
        new_app(TESTING=True)
    assert not any("PUBLIC_BASE_URL" in r.getMessage() for r in caplog.records)
