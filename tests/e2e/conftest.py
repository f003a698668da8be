"""Browser tests: the app served over real HTTP on 127.0.0.1, driven by Playwright in Debian's Chromium."""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from testsupport import make_app
from core.extensions import db

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def live_server(app, database_url, tmp_path_factory):
    """The app with CSRF on (as in production), on the test database, in a thread."""
    live = make_app(database_url, str(tmp_path_factory.mktemp("live-instance")), WTF_CSRF_ENABLED=True,
                    TILES_URL="")  # no tile server here: the map must work on a plain background
    server = make_server("127.0.0.1", 0, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    live.config["LIVE_URL"] = f"http://127.0.0.1:{server.server_port}"
    yield live
    server.shutdown()
    with live.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def base_url(live_server):
    return live_server.config["LIVE_URL"]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageWatch:
    """Collects what a page did that a test should fail on: script errors, off-machine requests."""

    def __init__(self, page, allowed_hosts: set[str]):
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)

        def check(request):
            host = urlsplit(request.url).hostname
            if request.url.startswith(("http://", "https://")) and host not in allowed_hosts:
                self.outside.append(request.url)
        page.on("request", check)

    def _console(self, msg) -> None:
        # a refused request (4xx) is shown in the page; Chromium also logs it, which is no script error
        if msg.type == "error" and not re.match(r"Failed to load resource: the server responded with a status "
                                                r"of 4\d\d", msg.text):
            self.errors.append(msg.text)


@pytest.fixture
def new_page(browser, request):
    """new_page(locale="en", mobile=False) → (page, watch); screenshots land in test-artifacts/."""
    contexts = []

    def make(locale: str = "en-US", mobile: bool = False):
        options = {"locale": locale}
        if mobile:
            options.update(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True,
                           has_touch=True)
        ctx = browser.new_context(**options)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        return page, PageWatch(page, {"127.0.0.1"})
    yield make
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for n, ctx in enumerate(contexts):
        for m, page in enumerate(ctx.pages):
            try:
                page.screenshot(path=str(ARTIFACTS / f"{name}-{n}{m}.png"), full_page=True)
            except Exception:  # a closed page has nothing to show
                pass
        ctx.close()


def log_in(page, base_url: str, username: str, password: str = "password123") -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state("load")


def resolved_order(app, make_station, make_user, make_customer, *, suffix: str):
    """A DTV order at S01 resolved by its technician, waiting for its callback: (id, number, dispatcher)."""
    from core.auth import get_user
    from dispatch.orders import services
    station = make_station("S01", lon=114.0, lat=22.5)
    tech = make_user("technician", username=f"tech-{suffix}", station=station, skills=["digital_tv"])
    disp = make_user("dispatcher", username=f"disp-{suffix}")
    customer = make_customer(lat=22.505, lon=114.005)
    with app.app_context():
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        order = services.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC",
                                       "description": "mosaic"}, get_user(disp.id))
        if order.technician_id != tech.id:
            services.assign(order, get_user(disp.id), technician_id=tech.id, reason="e2e")
        technician = get_user(tech.id)
        for action in ("accept", "depart", "arrive"):
            services.transition(order, action, technician)
        services.transition(order, "resolve", technician, resolution_code="FIXED")
        db.session.commit()
        return order.id, order.number, disp
