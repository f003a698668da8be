"""Users, roles, passwords, login throttling, login sessions and API tokens."""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.security import check_password_hash, generate_password_hash

from core import audit
from core.db import UTCDateTime, now
from core.errors import Conflict, Invalid
from core.extensions import db

if TYPE_CHECKING:  # for the relationships' annotations; SQLAlchemy resolves them by name
    from core.stations import Station

ROLES = ("admin", "supervisor", "dispatcher", "technician", "stockkeeper")
ROLE_LABELS = {
    "admin": _l("Administrator"),
    "supervisor": _l("Station supervisor"),
    "dispatcher": _l("Dispatcher"),
    "technician": _l("Technician"),
    "stockkeeper": _l("Stock keeper"),
}
STATION_ROLES = ("technician", "stockkeeper")  # must belong to a station; supervisors may not (centre managers)
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 8
LAST_USE_RESOLUTION = timedelta(minutes=1)  # a token's last use is noted at most this often


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(40), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(120), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20))
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stations.id"), index=True)
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    skills: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    # Rotated when the password changes or the account is disabled: old sessions stop loading.
    session_nonce: Mapped[str] = mapped_column(sa.String(32), default=lambda: secrets.token_hex(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    station: Mapped[Station | None] = relationship(foreign_keys=[station_id], lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("role IN ('admin','supervisor','dispatcher','technician','stockkeeper')",
                           name="role_known"),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.is_enabled

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"

    @property
    def role_label(self) -> str:
        return str(ROLE_LABELS[self.role])

    @property
    def is_centre_manager(self) -> bool:
        return self.role == "admin" or (self.role == "supervisor" and self.station_id is None)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > now() and self.user.is_enabled


class UserSession(db.Model):
    """One login (a browser): the signed session cookie carries its random id, so logging out
    ends it on the server, and a cookie copied before then no longer logs anyone in."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)  # of the id in the cookie
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)

    user: Mapped[User] = relationship(lazy="joined")


class LoginAttempt(db.Model):
    """Kept in the database so throttling holds across worker processes."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    username: Mapped[str] = mapped_column(sa.String(80))
    ip: Mapped[str] = mapped_column(sa.String(64))
    succeeded: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        sa.Index("ix_login_attempts_username_at", "username", "at"),
        sa.Index("ix_login_attempts_ip_at", "ip", "at"),
    )


class LoginRefused(Invalid):
    status, code = 401, "login_refused"


class LoginThrottled(Invalid):
    status, code = 429, "too_many_attempts"


def _hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def _check_password_rules(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise Invalid(str(_l("The password must have at least %(n)d characters.", n=MIN_PASSWORD)),
                      {"password": "too_short"})


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def find_user(username: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.username == (username or "").strip().lower()))


def create_user(username: str, role: str, password: str, *, station: Any = None, full_name: str = "",
                skills: list[str] | None = None, locale: str | None = None) -> User:
    """Add an account. Station staff (technicians, stock keepers) must name their station."""
    username = (username or "").strip().lower()
    if not USERNAME_RE.match(username):
        raise Invalid(str(_l("A username is 2–40 lower-case letters, digits, dots, dashes or underscores.")),
                      {"username": "invalid"})
    if role not in ROLES:
        raise Invalid(str(_l("Unknown role: %(role)s", role=role)), {"role": "unknown"})
    if role in STATION_ROLES and station is None:
        raise Invalid(str(_l("A %(role)s must belong to a station.", role=ROLE_LABELS[role])), {"station": "required"})
    _check_password_rules(password)
    if find_user(username):
        raise Conflict(str(_l("The username %(name)s is taken.", name=username)), {"username": "taken"})
    user = User(username=username, role=role, password_hash=_hash_password(password),
                station_id=getattr(station, "id", None), full_name=full_name or username,
                skills=list(skills or []), locale=locale)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, username=username, role=role)
    return user


def update_user(user: User, *, full_name: str | None = None, role: str | None = None, station: Any = ...,
                skills: list[str] | None = None, locale: str | None = ...) -> User:
    if role is not None:
        if role not in ROLES:
            raise Invalid(str(_l("Unknown role: %(role)s", role=role)), {"role": "unknown"})
        user.role = role
    if station is not ...:
        user.station_id = getattr(station, "id", None)
    if user.role in STATION_ROLES and user.station_id is None:
        raise Invalid(str(_l("A %(role)s must belong to a station.", role=ROLE_LABELS[user.role])),
                      {"station": "required"})
    if full_name is not None:
        user.full_name = full_name.strip()[:120]
    if skills is not None:
        user.skills = list(skills)
    if locale is not ...:
        user.locale = locale if locale in current_app.config["LANGUAGES"] else None
    db.session.flush()
    audit.record("user.update", "user", user.id)
    return user


def end_sessions(user: User) -> None:
    """Make every session and token of the user stop working on its next request."""
    user.session_nonce = secrets.token_hex(8)
    db.session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))
    db.session.execute(sa.update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                       .values(revoked_at=now()))


def set_password(user: User, password: str) -> None:
    _check_password_rules(password)
    user.password_hash = _hash_password(password)
    end_sessions(user)
    db.session.flush()
    audit.record("user.password", "user", user.id)


def set_enabled(user: User, enabled: bool) -> None:
    user.is_enabled = enabled
    if not enabled:
        end_sessions(user)
    db.session.flush()
    audit.record("user.enable" if enabled else "user.disable", "user", user.id)


def _recent_failures(column: Any, value: str, window: timedelta) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt).where(
        column == value, LoginAttempt.succeeded.is_(False), LoginAttempt.at >= now() - window)) or 0


def _recent_pair_failures(username: str, ip: str, window: timedelta) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.ip == ip, LoginAttempt.succeeded.is_(False),
        LoginAttempt.at >= now() - window)) or 0


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


def _password_matches(user: User | None, password: str) -> bool:
    """One hash check of the configured method, whether or not the user exists, so an unknown
    name is not answered faster than a wrong password."""
    if user is None:
        check_password_hash(_dummy_hash(current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")), password)
        return False
    return check_password_hash(user.password_hash, password)


def authenticate(username: str, password: str, ip: str) -> User:
    """Check a login, throttled per (user, address) pair and per address. The caller commits either way.

    Not per user alone: failures from an attacker's address must not lock the user out from
    their own. Failures are recorded (and audited) even though the login is refused, so the
    caller must commit after catching LoginRefused/LoginThrottled.
    """
    cfg = current_app.config
    username = (username or "").strip().lower()[:80]
    ip = (ip or "unknown")[:64]
    window = timedelta(seconds=cfg["LOGIN_FAILURE_WINDOW_SECONDS"])
    if (_recent_pair_failures(username, ip, window) >= cfg["LOGIN_MAX_FAILURES_PER_USER_AND_ADDRESS"]
            or _recent_failures(LoginAttempt.ip, ip, window) >= cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"]):
        db.session.add(LoginAttempt(at=now(), username=username, ip=ip, succeeded=False))
        audit.record("login.throttled", "user", None, username=username)
        raise LoginThrottled(str(_l("Too many failed attempts. Try again in a few minutes.")))
    user = find_user(username)
    if not _password_matches(user, password or "") or not user.is_enabled:
        db.session.add(LoginAttempt(at=now(), username=username, ip=ip, succeeded=False))
        audit.record("login.failed", "user", getattr(user, "id", None), username=username)
        raise LoginRefused(str(_l("Wrong username or password.")))
    db.session.add(LoginAttempt(at=now(), username=username, ip=ip, succeeded=True))
    user.last_login_at = now()
    audit.record("login", "user", user.id, actor=user)
    return user


def _session_lifetime() -> timedelta:
    return current_app.permanent_session_lifetime


def start_session(user: User) -> str:
    """A new login session of the user; returns its id for the (signed) session cookie.
    Only its hash is stored."""
    sid = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_hash=_token_hash(sid), created_at=now()))
    return sid


def user_for_session(user_id: int, nonce: str, sid: Any) -> User | None:
    """The user of a live login session: it exists on the server (not logged out, not ended by a
    password change or disabling), belongs to this user and is younger than the session lifetime."""
    if not isinstance(sid, str) or not sid:
        return None
    row = db.session.scalar(sa.select(UserSession).where(UserSession.token_hash == _token_hash(sid)))
    if row is None or row.user_id != user_id or row.created_at <= now() - _session_lifetime():
        return None
    user = row.user
    if not user.is_enabled or user.session_nonce != nonce:
        return None
    return user


def end_session(sid: Any) -> None:
    """Log out one session (the others of the user go on)."""
    if isinstance(sid, str) and sid:
        db.session.execute(sa.delete(UserSession).where(UserSession.token_hash == _token_hash(sid)))


def purge_expired_sessions() -> str:
    """Drop session records past their lifetime (browsers closed without logging out)."""
    gone = db.session.execute(sa.delete(UserSession).where(
        UserSession.created_at <= now() - _session_lifetime())).rowcount
    return f"{gone} expired sessions removed"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, name: str = "", lifetime_hours: int | None = None) -> str:
    """A new bearer token; only its hash is stored, so it is shown once."""
    token = "r24_" + secrets.token_urlsafe(32)
    hours = lifetime_hours or current_app.config["API_TOKEN_LIFETIME_HOURS"]
    db.session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), name=name[:80],
                            created_at=now(), expires_at=now() + timedelta(hours=hours)))
    db.session.flush()
    audit.record("token.issue", "user", user.id, actor=user, name=name[:80])
    return token


def revoke_token(token: str) -> bool:
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now()
    audit.record("token.revoke", "user", row.user_id, actor=row.user)
    return True


def user_for_token(token: str) -> User | None:
    """The user a bearer token stands for, or None if it is unknown, expired or revoked.

    Reads stay reads: the last use is noted at most once a minute and a use is not audited
    (issue and revoke are), so a bearer GET writes nothing on the hot path.
    """
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or not row.is_usable:
        return None
    at = now()
    if row.last_used_at is None or row.last_used_at <= at - LAST_USE_RESOLUTION:
        _note_use(row, at)
    return row.user


def _note_use(row: ApiToken, at: datetime) -> None:
    """Note the token's last use unless a concurrent request of the same token is noting it: that
    one holds the row until it ends (PostgreSQL: SKIP LOCKED), and waiting for it would make every
    parallel call of the token wait for the slowest. (SQLite has one writer at a time anyway.)"""
    free = sa.select(ApiToken.id).where(ApiToken.id == row.id).with_for_update(skip_locked=True).scalar_subquery()
    done = db.session.execute(sa.update(ApiToken).where(
        ApiToken.id == free, sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= at - LAST_USE_RESOLUTION))
        .values(last_used_at=at).execution_options(synchronize_session=False)).rowcount
    if done:
        set_committed_value(row, "last_used_at", at)


def users_query(role: str | None = None, station_id: int | None = None, q: str | None = None):
    stmt = sa.select(User).order_by(User.username)
    if role:
        stmt = stmt.where(User.role == role)
    if station_id:
        stmt = stmt.where(User.station_id == station_id)
    if q:
        term = q.strip().lower()  # autoescape: % and _ are literal characters, not LIKE wildcards
        stmt = stmt.where(sa.or_(User.username.contains(term, autoescape=True),
                                 sa.func.lower(User.full_name).contains(term, autoescape=True)))
    return stmt
