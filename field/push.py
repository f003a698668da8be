"""Web Push delivery of the outbox (RFC 8030 / 8291 aes128gcm / 8292 VAPID) with pywebpush.

How an alert gets to a phone
----------------------------
A cause (an assignment, an escalation, ...) writes a `core.outbox.Notification` row in
its own transaction. After that commits, the `push_delivery` job (field/jobs.py) or
`flask push deliver` calls `deliver_due()`, which

1. claims a batch of due pending rows: one UPDATE that stamps a random `claim_token` and
   a `claimed_until` lease on rows nobody holds (PostgreSQL picks them with
   `FOR UPDATE SKIP LOCKED`, so workers take different rows instead of queueing; SQLite
   serialises writers, and the UPDATE's WHERE re-checks the claim inside the write lock).
   The claim commits at once, so no transaction or lock is held during the HTTP calls;
2. posts the encrypted payload to each of the recipient's devices that has not yet
   accepted this alert, never after the lease has run out;
3. records one `PushDelivery` per device attempt and settles each row (sent, retry later,
   failed, no_device) with an UPDATE guarded by its claim token; these writes are
   committed together at least every PUSH_COMMIT_SECONDS (0.2 s) and at the end of the
   batch, so bookkeeping costs a few statements per batch rather than per message.

Exactly once, and the crash window
----------------------------------
Two workers never send the same alert: a row is sent only under an unexpired claim, and
a claim is taken by one UPDATE. A retry (429, 5xx, timeout) re-sends only to devices
without a `sent` delivery, so "500 then 201" delivers once.

The one gap is a crash after the push service accepted a message and before the commit
that records it (about PUSH_COMMIT_SECONDS of sends). Push services have no
idempotency key and no way to ask "did you get it?", so no order of writes closes it:
recording an intent before posting would only let us choose between losing the alert
(trust the intent) and sending it again (ignore it) — the same choice as without it, for
an extra commit per message. We choose to send again once the dead worker's lease ends
(at-least-once inside that window) because a lost escalation costs more than a repeated
one, and we make the repeat harmless: it carries the same `Topic`, so a push service
that still queues the first copy replaces it, and the same notification `tag`, so a
phone that already shows it replaces it silently (service worker, `renotify` off).
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, current_app, has_request_context
from py_vapid import Vapid
from py_vapid.utils import b64urlencode
from pywebpush import WebPusher, WebPushException

from core.auth import User
from core.db import now
from core.extensions import db
from core.outbox import Notification
from core.parse import is_digits
from field.models import PushDelivery, PushSubscription

log = logging.getLogger(__name__)

VAPID_FILE = "vapid_private.pem"
DEFAULTS: dict[str, float] = {
    "PUSH_TTL_SECONDS": 24 * 3600,  # a phone that is off for a day still gets the alert
    "PUSH_TIMEOUT_SECONDS": 10,  # every request to a push service
    "PUSH_MAX_ATTEMPTS": 8,  # then the alert is `failed` (the inbox still has it)
    "PUSH_BACKOFF_SECONDS": 30,  # first retry delay, doubled each time ...
    "PUSH_BACKOFF_MAX_SECONDS": 3600,  # ... up to this
    "PUSH_RETRY_AFTER_MAX_SECONDS": 24 * 3600,  # a push service's Retry-After is honoured up to this
    "PUSH_BATCH_SIZE": 100,  # alerts per claim
    "PUSH_CLAIM_SECONDS": 300,  # lease of a claim; a dead worker's rows come back after it
    "PUSH_COMMIT_SECONDS": 0.2,  # outcomes are committed at least this often (the crash window)
}
VAPID_EXP_SECONDS = 12 * 3600  # RFC 8292: at most 24 h ahead
TOPIC_RE = re.compile(r"[^A-Za-z0-9_-]")


def setting(name: str) -> float:
    return current_app.config.get(name, DEFAULTS[name])


# ---------------------------------------------------------------- VAPID keys

def vapid_path(app: Flask) -> Path:
    return Path(app.instance_path) / VAPID_FILE


def ensure_vapid_key(app: Flask) -> bool:
    """Create the VAPID private key in the instance folder unless it exists; True if created.

    Written to a private temporary file (mode 0600) and linked into place, so a reader
    never sees half a key and two processes racing keep the first one.
    """
    path = vapid_path(app)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_name(f".{VAPID_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    log.info("created VAPID key %s", path)
    return True


def vapid(app: Flask | None = None) -> Vapid:
    """This instance's VAPID signer (created on first use), cached per process."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    path = vapid_path(app)
    cached = app.extensions.get("restore24_vapid")
    if cached is not None and cached[0] == path:
        return cached[1]
    ensure_vapid_key(app)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # someone copied it in with a loose mode: the key is a credential
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise RuntimeError(f"{path} is not a P-256 private key")
    signer = Vapid(key)
    app.extensions["restore24_vapid"] = (path, signer)
    return signer


def public_key(app: Flask | None = None) -> str:
    """The application server key for PushManager.subscribe: base64url uncompressed point."""
    raw = vapid(app).public_key.public_bytes(serialization.Encoding.X962,
                                             serialization.PublicFormat.UncompressedPoint)
    return b64urlencode(raw)


# ---------------------------------------------------------------- push service origins

def origin_of(url: str) -> str | None:
    """scheme://host[:port] in canonical form (lower case, default port dropped); None if not a URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port and port != default else "")


def origin_allowed(origin: str, allowed: list[str] | None = None) -> bool:
    """Is this push service in PUSH_ALLOWED_ORIGINS? Entries may be `https://*.example.com`.

    Plain http is accepted only for an origin listed exactly (a local test service).
    """
    for entry in allowed if allowed is not None else current_app.config.get("PUSH_ALLOWED_ORIGINS", []):
        if entry.startswith("https://*."):
            suffix = entry[len("https://*"):].lower()
            host = origin.removeprefix("https://")
            if origin.startswith("https://") and host.endswith(suffix) and ":" not in host:
                return True
        elif origin_of(entry) == origin:
            return True
    return False


# ---------------------------------------------------------------- delivery

@dataclass
class Outcome:
    status: str  # sent | retry | gone | failed
    http_status: int | None = None
    error: str = ""
    retry_after: float | None = None


def topic_for(note: Notification) -> str | None:
    """RFC 8030 Topic (≤ 32 url-safe characters): a newer alert about an order replaces an older one."""
    raw = note.topic or (f"order-{note.order_id}" if note.order_id is not None else "")
    return TOPIC_RE.sub("-", raw)[:32] or None


def payload_bytes(note: Notification, locale: str | None = None) -> bytes:
    data = note.payload(locale)
    # the service worker's notification tag: the same alert shown twice replaces itself
    data["tag"] = topic_for(note) or f"n{note.id}"
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def push_headers(note: Notification, sub: PushSubscription, signer: Vapid) -> dict[str, str]:
    # Fresh claims for every message: pywebpush and py_vapid fill in `aud`/`exp` in the
    # dict they are given, so a shared dict would carry one service's audience to another.
    claims = {"aud": sub.origin, "exp": int(time.time()) + VAPID_EXP_SECONDS,
              "sub": current_app.config["VAPID_SUBJECT"]}
    headers = dict(signer.sign(claims))
    headers["Urgency"] = note.urgency
    topic = topic_for(note)
    if topic:
        headers["Topic"] = topic
    return headers


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if is_digits(value):
        return float(value)  # ASCII digits only: '²'.isdigit() is true, float('²') raises
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now()).total_seconds())


def send_one(note: Notification, sub: PushSubscription, data: bytes, http: requests.Session,
             signer: Vapid) -> Outcome:
    """POST one encrypted message to one device's push service; classify its answer."""
    if not origin_allowed(sub.origin) or origin_of(sub.endpoint) != sub.origin:
        # the allow-list may have shrunk since the browser subscribed: never post elsewhere
        return Outcome("failed", error="push service not allowed")
    age = (now() - note.created_at).total_seconds() if note.created_at else 0
    ttl = max(60, int(setting("PUSH_TTL_SECONDS") - max(0, age)))  # expire a day after the cause
    try:
        resp = WebPusher(sub.subscription_info(), requests_session=http).send(
            data, push_headers(note, sub, signer), ttl=ttl, content_encoding="aes128gcm",
            timeout=setting("PUSH_TIMEOUT_SECONDS"))
    except requests.TooManyRedirects:
        return Outcome("failed", error="push service redirected")
    except (requests.Timeout, requests.ConnectionError) as err:
        return Outcome("retry", error=type(err).__name__)
    except (WebPushException, ValueError) as err:  # keys that do not decode (stored before validation)
        return Outcome("failed", error=str(err)[:300])
    code = resp.status_code
    if 200 <= code < 300:
        return Outcome("sent", code)
    if code in (404, 410):
        return Outcome("gone", code)
    if code == 429 or code >= 500:
        return Outcome("retry", code, resp.reason or "", _retry_after(resp.headers.get("Retry-After")))
    return Outcome("failed", code, f"{resp.reason or ''} {resp.text[:200]}".strip())


def _backoff(attempt: int, retry_after: float | None) -> float:
    delay = min(setting("PUSH_BACKOFF_SECONDS") * 2 ** (attempt - 1), setting("PUSH_BACKOFF_MAX_SECONDS"))
    if retry_after is not None:
        delay = max(delay, min(retry_after, setting("PUSH_RETRY_AFTER_MAX_SECONDS")))
    return delay


def claim_due(limit: int, lease_seconds: float) -> tuple[str, list[Notification]]:
    """Claim up to `limit` due pending alerts for this worker; commits the claim.

    Returns the alerts detached from the session (read once; later commits do not reload them).
    """
    token, t = secrets.token_hex(16), now()
    due = (Notification.push_status == "pending", Notification.next_attempt_at <= t,
           sa.or_(Notification.claimed_until.is_(None), Notification.claimed_until < t))
    pick = sa.select(Notification.id).where(*due).order_by(Notification.next_attempt_at, Notification.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    # A CTE, not `id IN (subquery)`: PostgreSQL may re-run an IN-subquery per outer row, and
    # with SKIP LOCKED each run can return other rows, so LIMIT would not bound the claim.
    picked = pick.cte("picked")
    db.session.execute(
        sa.update(Notification).where(Notification.id.in_(sa.select(picked.c.id)), *due)
        .values(claim_token=token, claimed_until=t + timedelta(seconds=lease_seconds)),
        execution_options={"synchronize_session": False})
    db.session.commit()
    notes = list(db.session.scalars(sa.select(Notification).where(Notification.claim_token == token)
                                    .order_by(Notification.next_attempt_at, Notification.id)))
    for note in notes:
        db.session.expunge(note)
    return token, notes


def _release(token: str, note_ids: list[int]) -> None:
    if note_ids:
        db.session.execute(sa.update(Notification).where(Notification.id.in_(note_ids),
                                                         Notification.claim_token == token)
                           .values(claim_token=None, claimed_until=None))
        db.session.commit()


class Batch:
    """A claimed batch: its devices and earlier successes, read once, and its pending writes.

    Outcomes are written and committed at least every PUSH_COMMIT_SECONDS (and at the end
    of the batch) — a few statements for many alerts — so the window in which a crash
    leaves an accepted message unrecorded stays a fraction of a second.
    """

    def __init__(self, notes: list[Notification], token: str) -> None:
        self.token = token
        recipients = {n.recipient_id for n in notes}
        subs = list(db.session.scalars(sa.select(PushSubscription)
                                       .where(PushSubscription.user_id.in_(recipients))
                                       .order_by(PushSubscription.id)))
        for sub in subs:
            db.session.expunge(sub)
        self.devices: dict[int, list[PushSubscription]] = {}
        for sub in subs:
            self.devices.setdefault(sub.user_id, []).append(sub)
        self.accepted: set[tuple[int, int | None]] = set(tuple(r) for r in db.session.execute(
            sa.select(PushDelivery.notification_id, PushDelivery.subscription_id).where(
                PushDelivery.notification_id.in_([n.id for n in notes]), PushDelivery.status == "sent")).all())
        # rendered now, in each recipient's language as it is at sending: rendering reads reference
        # data (a category's name), and no read may stay open while we talk HTTP
        locales = dict(db.session.execute(sa.select(User.id, User.locale).where(User.id.in_(recipients))).all())
        self.payloads = {n.id: payload_bytes(n, locales.get(n.recipient_id) or current_app.config["BABEL_DEFAULT_LOCALE"])
                         for n in notes if n.recipient_id in self.devices}
        db.session.commit()  # end the read: no transaction stays open while we talk HTTP
        self.gone: set[int] = set()
        self.succeeded: dict[int, datetime] = {}
        self.rows: list[dict] = []
        self.settled: list[dict] = []
        self.gone_unwritten: list[int] = []
        self.last_commit = time.monotonic()

    def record(self, note: Notification, rows: list[dict], state: dict) -> None:
        self.rows.extend(rows)
        self.gone_unwritten.extend(r["subscription_id"] for r in rows if r["status"] == "gone")
        self.settled.append({"nid": note.id, "tok": self.token, **state})
        if time.monotonic() - self.last_commit >= setting("PUSH_COMMIT_SECONDS"):
            self.commit()

    def commit(self) -> None:
        """Write the recorded attempts and alert states, and commit.

        Nothing here may be lost to a conflict, or the alerts would be sent again after the
        lease: a deadlock with another worker (both stamping or deleting the same device)
        is retried, and a device deleted meanwhile (410 seen by another worker, or the user
        unsubscribing) keeps its attempts with subscription_id NULL instead of failing the FK.
        """
        for round_ in range(4):
            try:
                self._write()
                db.session.commit()
                break
            except sa.exc.IntegrityError:
                db.session.rollback()
                if round_ == 3:
                    raise
                self._forget_vanished_devices()
            except sa.exc.OperationalError:
                db.session.rollback()
                if round_ == 3:
                    raise
                log.info("push bookkeeping conflicted with another worker; writing again", exc_info=True)
        self.rows, self.settled, self.gone_unwritten, self.succeeded = [], [], [], {}
        self.last_commit = time.monotonic()

    def _write(self) -> None:
        if self.rows:
            db.session.execute(sa.insert(PushDelivery.__table__), self.rows)
        subs = PushSubscription.__table__
        if self.gone_unwritten:  # the browser unsubscribed or the subscription expired
            db.session.execute(subs.delete().where(subs.c.id.in_(sorted(set(self.gone_unwritten)))))
        stamps = [{"sid": k, "at": v} for k, v in sorted(self.succeeded.items()) if k not in self.gone]
        if stamps:  # sorted: workers lock the same devices in the same order
            db.session.execute(subs.update().where(subs.c.id == sa.bindparam("sid"))
                               .values(last_success_at=sa.bindparam("at")), stamps)
        if self.settled:
            # A worker that outlived its lease must not overwrite the new holder's row.
            table = Notification.__table__
            db.session.execute(
                table.update().where(table.c.id == sa.bindparam("nid"), table.c.claim_token == sa.bindparam("tok"))
                .values(push_status=sa.bindparam("st"), push_attempts=sa.bindparam("pa"),
                        next_attempt_at=sa.bindparam("na"), delivered_at=sa.bindparam("da"),
                        claim_token=None, claimed_until=None),
                self.settled)

    def _forget_vanished_devices(self) -> None:
        ids = {r["subscription_id"] for r in self.rows} | set(self.succeeded) | set(self.gone_unwritten)
        alive = set(db.session.scalars(sa.select(PushSubscription.id).where(PushSubscription.id.in_(ids))))
        for row in self.rows:
            if row["subscription_id"] not in alive:
                row["subscription_id"] = None
        self.gone_unwritten = [i for i in self.gone_unwritten if i in alive]
        self.succeeded = {k: v for k, v in self.succeeded.items() if k in alive}

class PushSession(requests.Session):
    """HTTP to push services: no redirects, and the environment read once per origin.

    requests re-reads proxy variables from the environment for every request (a large
    share of a message's CPU) and may add .netrc credentials over our Authorization
    header; instead this session looks the proxy up once per push service (honouring
    NO_PROXY) and takes the CA bundle from REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.max_redirects = 0  # a push service's redirect must not make us post elsewhere
        self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._proxies: dict[str, dict[str, str]] = {}

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        origin = origin_of(url) or url
        if origin not in self._proxies:
            self._proxies[origin] = requests.utils.get_environ_proxies(url)
        kwargs.setdefault("proxies", self._proxies[origin])
        return super().request(method, url, *args, **kwargs)


def deliver_note(note: Notification, batch: Batch, http: requests.Session, signer: Vapid, stats: Counter) -> None:
    """Send one claimed alert to every device that has not accepted it yet, and record the outcome."""
    t = now()
    subs = [s for s in batch.devices.get(note.recipient_id, []) if s.id not in batch.gone]
    targets = [s for s in subs if (note.id, s.id) not in batch.accepted]
    delivered = len(targets) < len(subs)  # some device accepted it on an earlier attempt
    attempt = note.push_attempts + 1
    outcomes: list[Outcome] = []
    rows: list[dict] = []
    data = (batch.payloads.get(note.id) or payload_bytes(note)) if targets else b""
    for sub in targets:
        outcome = send_one(note, sub, data, http, signer)
        outcomes.append(outcome)
        stats[outcome.status] += 1
        rows.append({"notification_id": note.id, "subscription_id": sub.id, "origin": sub.origin,
                     "attempt": attempt, "status": outcome.status, "http_status": outcome.http_status,
                     "error": outcome.error[:300], "attempted_at": now()})
        if outcome.status == "sent":
            delivered = True
            batch.succeeded[sub.id] = now()
        elif outcome.status == "gone":
            batch.gone.add(sub.id)
    retries = [o for o in outcomes if o.status == "retry"]
    state = {"st": "pending", "pa": attempt, "na": note.next_attempt_at, "da": None}
    if not subs:
        state.update(st="no_device", pa=note.push_attempts)
    elif retries and attempt < setting("PUSH_MAX_ATTEMPTS"):
        delay = max(_backoff(attempt, o.retry_after) for o in retries)
        state.update(na=t + timedelta(seconds=delay))
    elif delivered:
        state.update(st="sent", da=now())
    elif not retries and all(o.status == "gone" for o in outcomes):
        state.update(st="no_device")
    else:
        state.update(st="failed")
    batch.record(note, rows, state)
    stats["alerts"] += 1
    if state["st"] != "pending":
        stats[f"alert_{state['st']}"] += 1


def deliver_due(max_alerts: int | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Deliver every due pending alert (up to `max_alerts`); returns counts. Commits as it goes.

    Never call it inside a web request: delivery must follow the cause's commit, and an
    HTTP call to a push service must not hold the request's transaction open.
    """
    if has_request_context():
        raise RuntimeError("push delivery runs in jobs and commands, not in web requests")
    db.session.commit()  # what the caller wrote is committed; the claim starts a fresh transaction
    size = int(batch_size or setting("PUSH_BATCH_SIZE"))
    lease = float(setting("PUSH_CLAIM_SECONDS"))
    timeout = float(setting("PUSH_TIMEOUT_SECONDS"))
    signer, stats = vapid(), Counter()
    with PushSession() as http:
        while max_alerts is None or stats["alerts"] < max_alerts:
            want = size if max_alerts is None else min(size, max_alerts - stats["alerts"])
            token, notes = claim_due(want, lease)
            if not notes:
                break
            batch = Batch(notes, token)
            for i, note in enumerate(notes):
                # every POST must end before the lease does (a timeout per device, plus slack)
                margin = timeout * max(1, len(batch.devices.get(note.recipient_id, []))) + 1
                if note.claimed_until is None or now() + timedelta(seconds=margin) >= note.claimed_until:
                    batch.commit()
                    _release(token, [n.id for n in notes[i:]])  # lease nearly over: the next run takes them
                    return dict(stats)
                deliver_note(note, batch, http, signer, stats)
            batch.commit()
            if len(notes) < want:
                break
    return dict(stats)
