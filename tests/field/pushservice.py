"""A local Web Push service for tests and benchmarks: what a browser's push service does.

It runs a real HTTP server on 127.0.0.1 in a thread. `subscribe()` hands out a
subscription the way a browser would (its own P-256 key pair and a 16-byte auth secret,
an endpoint on this server). Every POST is checked like a strict push service checks it —
the VAPID JWT (ES256, `aud` = this origin, `exp` in the future and within 24 h, `sub`
present) verified with `cryptography`, TTL/Urgency/Topic headers — and its aes128gcm
body is decrypted with http_ece using the subscription's private key and auth secret.
Responses are scripted per device: 201 by default, or a queue of statuses such as
410, 500, or (429, {"Retry-After": "120"}), or ("sleep", seconds) to time the client out.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Refused(Exception):
    pass


@dataclass
class Device:
    token: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    endpoint: str
    script: list[Any] = field(default_factory=list)
    gone: bool = False

    def subscription(self) -> dict[str, Any]:
        """What PushSubscription.toJSON() gives the page."""
        pub = self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                         serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": b64u(pub), "auth": b64u(self.auth)}}


@dataclass
class Message:
    device: str
    status: int
    payload: Any
    headers: dict[str, str]
    claims: dict[str, Any]
    vapid_key: str
    at: float

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class PushService:
    def __init__(self, host: str = "127.0.0.1", verify_signature: bool = True) -> None:
        self.devices: dict[str, Device] = {}
        self.messages: list[Message] = []
        self.errors: list[str] = []
        self.verify_signature = verify_signature
        self.lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, extra = service.handle(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -------------------------------------------------------------- browser side
    def subscribe(self, script: list[Any] | None = None) -> Device:
        token = secrets.token_urlsafe(12)
        dev = Device(token, ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16),
                     f"{self.origin}/push/{token}", list(script or []))
        with self.lock:
            self.devices[token] = dev
        return dev

    def script(self, device: Device, *responses: Any) -> None:
        with self.lock:
            device.script.extend(responses)

    def received(self, device: Device | None = None, accepted: bool | None = None) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if (device is None or m.device == device.token)
                    and (accepted is None or m.accepted == accepted)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -------------------------------------------------------------- service side
    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        headers = {k.lower(): v for k, v in headers.items()}
        m = re.fullmatch(r"/push/([A-Za-z0-9_-]+)", path)
        with self.lock:
            dev = self.devices.get(m.group(1)) if m else None
        if dev is None:
            return 404, {}
        if dev.gone:
            return 410, {}
        try:
            claims, key = self.check_vapid(headers.get("authorization", ""))
            self.check_headers(headers)
            plain = http_ece.decrypt(body, private_key=dev.private_key, auth_secret=dev.auth, version="aes128gcm")
            payload = json.loads(plain)
        except Exception as err:  # noqa: BLE001 - every refusal is recorded for the test to see
            with self.lock:
                self.errors.append(f"{type(err).__name__}: {err}")
            return 400, {}
        with self.lock:
            step = dev.script.pop(0) if dev.script else 201
        if isinstance(step, tuple) and step[0] == "sleep":
            time.sleep(step[1])
            step = 201 if len(step) < 3 else step[2]
        status, extra = (step if isinstance(step, tuple) else (step, {}))
        if status == 410:
            dev.gone = True
        with self.lock:
            self.messages.append(Message(dev.token, status, payload, headers, claims, key, time.time()))
        return status, extra

    def check_vapid(self, header: str) -> tuple[dict[str, Any], str]:
        m = re.fullmatch(r"vapid t=([A-Za-z0-9_.-]+), ?k=([A-Za-z0-9_-]+)", header.strip())
        if not m:
            raise Refused(f"no RFC 8292 Authorization header: {header!r}")
        token, key = m.groups()
        head_b64, claims_b64, sig_b64 = token.split(".")
        head = json.loads(unb64u(head_b64))
        if head.get("alg") != "ES256":
            raise Refused(f"alg {head.get('alg')}")
        sig = unb64u(sig_b64)
        if len(sig) != 64:
            raise Refused("signature is not 64 bytes")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(key))
        if self.verify_signature:
            try:
                public.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                              f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                raise Refused("bad VAPID signature") from None
        claims = json.loads(unb64u(claims_b64))
        if claims.get("aud") != self.origin:
            raise Refused(f"aud {claims.get('aud')!r} is not {self.origin!r}")
        exp, t = claims.get("exp"), time.time()
        if not isinstance(exp, int) or not t < exp <= t + 24 * 3600:
            raise Refused(f"exp {exp!r} not within 24 h")
        if not re.match(r"^(mailto:.+@.+|https://.+)$", str(claims.get("sub", ""))):
            raise Refused(f"sub {claims.get('sub')!r}")
        return claims, key

    @staticmethod
    def check_headers(headers: dict[str, str]) -> None:
        if headers.get("content-encoding") != "aes128gcm":
            raise Refused(f"content-encoding {headers.get('content-encoding')!r}")
        ttl = headers.get("ttl", "")
        if not ttl.isdigit():
            raise Refused(f"TTL {ttl!r}")
        if headers.get("urgency", "normal") not in ("very-low", "low", "normal", "high"):
            raise Refused(f"urgency {headers.get('urgency')!r}")
        topic = headers.get("topic")
        if topic is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", topic):
            raise Refused(f"topic {topic!r}")
