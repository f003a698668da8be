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
