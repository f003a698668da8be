"""Dispatch fixtures: a small city (two stations, staff on duty, categories) and a fake Nominatim."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from testsupport import stock_technician_van

from core.extensions import db


class FakeNominatim:
    """Speaks Nominatim's /search JSON; `answers` maps a query to (lat, lon), `down` makes it fail,
    `before_answer` (a callable) runs before each answer: a slow geocoder."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[float, float]] = {}
        self.down = False
        self.before_answer: Any = None
        self.queries: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                query = parse_qs(url.query).get("q", [""])[0]
                fake.queries.append(query)
                if fake.before_answer is not None:
                    fake.before_answer()
                if fake.down or url.path != "/search":
                    self.send_response(503)
                    self.end_headers()
                    return
                hit = fake.answers.get(query)
                body = json.dumps([] if hit is None else [{
                    "place_id": 1, "lat": str(hit[0]), "lon": str(hit[1]), "display_name": query,
                    "boundingbox": [str(hit[0] - 0.001), str(hit[0] + 0.001), str(hit[1] - 0.001), str(hit[1] + 0.001)],
                    "class": "place", "type": "house", "importance": 0.5}]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def _nominatim_server():
    fake = FakeNominatim()
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def nominatim(app, _nominatim_server):
    """Every dispatch test geocodes against the local fake, never the internet."""
    saved = {k: app.config[k] for k in ("GEOCODER_DOMAIN", "GEOCODER_SCHEME", "GEOCODER_MIN_DELAY_SECONDS",
                                        "GEOCODER_TIMEOUT")}
    app.config.update(GEOCODER_DOMAIN=_nominatim_server.domain, GEOCODER_SCHEME="http",
                      GEOCODER_MIN_DELAY_SECONDS=0, GEOCODER_TIMEOUT=2)
    _nominatim_server.answers.clear()
    _nominatim_server.queries.clear()
    _nominatim_server.down = False
    _nominatim_server.before_answer = None
    yield _nominatim_server
    _nominatim_server.before_answer = None
    app.config.update(saved)


def square(lon: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size],
                                                [lon, lat + size], [lon, lat]]]}


@pytest.fixture
def city(app, make_station, make_user, make_customer):
    """Two side-by-side stations S01 (114.00–114.01) and S02 (114.01–114.02) at lat 22.50–22.51;
    technicians on duty (t1, t2 at S01; t3 at S02) with skills; a dispatcher; a supervisor of S01."""
    from dispatch.orders import services

    s1 = make_station("S01", lon=114.0, lat=22.5)
    s2 = make_station("S02", lon=114.01, lat=22.5)
    t1 = make_user("technician", username="t1", station=s1, skills=["digital_tv", "cable_tv"])
    t2 = make_user("technician", username="t2", station=s1, skills=["digital_tv", "broadband"])
    t3 = make_user("technician", username="t3", station=s2, skills=["digital_tv", "broadband", "cable_tv"])
    off = make_user("technician", username="t4off", station=s1, skills=["digital_tv"])
    dispatcher = make_user("dispatcher", username="disp")
    supervisor = make_user("supervisor", username="sup1", station=s1)
    customer = make_customer(lat=22.505, lon=114.005)
    with app.app_context():
        services.ensure_reference_data()
        from core.auth import get_user
        for tech in (t1, t2, t3):
            services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        services.set_duty(get_user(off.id), on_duty=False, shift="night")
        db.session.commit()
    return SimpleNamespace(s1=s1, s2=s2, t1=t1, t2=t2, t3=t3, off=off, dispatcher=dispatcher,
                           supervisor=supervisor, customer=customer)


@pytest.fixture
def stock_van(app, make_user):
    """Put stock into a technician's van through inventory's services: 10 × CONN-F and loaner unit(s)."""
    def stock(tech: Any, *, loaners: tuple[str, ...] = ("LN1",)) -> None:
        stock_technician_van(app, make_user, tech, loaners)
    return stock
