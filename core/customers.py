"""Customers (subscribers): who they are, where they are, what services they take."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from core import audit, csvsafe
from core.db import UTCDateTime, now
from core.errors import Conflict, Invalid, NotFound, recovered
from core.extensions import db
from core.geo import check_point

SEGMENTS = ("residential", "vip", "hotel", "urban_village", "business")
SEGMENT_LABELS = {"residential": _l("Residential"), "vip": _l("VIP"), "hotel": _l("Hotel"),
                  "urban_village": _l("Urban village"), "business": _l("Business / group")}
SERVICES = ("cable_tv", "digital_tv", "broadband")
SERVICE_LABELS = {"cable_tv": _l("Cable TV"), "digital_tv": _l("Digital TV"), "broadband": _l("Broadband")}
PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")
ACCOUNT_RE = re.compile(r"^[A-Za-z0-9-]{4,20}$")
CSV_COLUMNS = ("account_no", "name", "phone", "address", "lat", "lon", "district", "segment", "services")


class Customer(db.Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_no: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    phone: Mapped[str] = mapped_column(sa.String(20), index=True)
    address: Mapped[str] = mapped_column(sa.String(255), default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    district: Mapped[str] = mapped_column(sa.String(80), default="")
    segment: Mapped[str] = mapped_column(sa.String(20), default="residential")
    services: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    __table_args__ = (
        sa.CheckConstraint("segment IN ('residential','vip','hotel','urban_village','business')",
                           name="segment_known"),
        sa.CheckConstraint("(lat IS NULL AND lon IS NULL) OR (lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180)",
                           name="point_in_range"),
    )

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None


def mask_phone(phone: str) -> str:
    """138****8000: enough to recognise a number, not to call it."""
    digits = phone or ""
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def get_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(str(_l("No such customer.")))
    return customer


def customer_by_account(account_no: str) -> Customer | None:
    return db.session.scalar(sa.select(Customer).where(Customer.account_no == (account_no or "").strip()))


def phone_is(term: str) -> Any:
    """A clause for customers whose phone is the whole number searched for (spaces and dashes
    ignored, with or without +86).

    Only the whole number matches, never a fragment: staff see masked numbers (138****8000), and a
    fragment search would be an oracle — 1380___8000 with LIKE wildcards, or 13801, 13802 … as plain
    substrings — telling the hidden digits a few requests each without a reveal in the audit log.
    """
    number = re.sub(r"[ -]", "", term)
    if not PHONE_RE.match(number):
        return sa.false()
    numbers = {number}
    if number.startswith("+86"):
        numbers.add(number[3:])
    elif not number.startswith("+"):
        numbers.add("+86" + number)
    return Customer.phone.in_(sorted(numbers))


def search_customers(q: str | None):
    """Customers matching an account number, a whole phone number, or a name or address fragment."""
    stmt = sa.select(Customer).order_by(Customer.account_no)
    if q and q.strip():
        term = q.strip()
        # autoescape: % and _ in the term are literal characters, not LIKE wildcards
        stmt = stmt.where(sa.or_(Customer.account_no == term, phone_is(term),
                                 Customer.name.contains(term, autoescape=True),
                                 Customer.address.contains(term, autoescape=True)))
    return stmt


def _clean(data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}

    def has(key: str) -> bool:
        return not partial or key in data

    if has("account_no"):
        acc = str(data.get("account_no") or "").strip()
        if not ACCOUNT_RE.match(acc):
            errors["account_no"] = str(_l("4–20 letters, digits or dashes"))
        out["account_no"] = acc
    if has("name"):
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 120:
            errors["name"] = str(_l("required, at most 120 characters"))
        out["name"] = name
    if has("phone"):
        phone = re.sub(r"[ -]", "", str(data.get("phone") or "").strip())
        if not PHONE_RE.match(phone):
            errors["phone"] = str(_l("a phone number of 6–20 digits"))
        out["phone"] = phone
    if has("address"):
        address = str(data.get("address") or "").strip()
        if len(address) > 255:
            errors["address"] = str(_l("at most 255 characters"))
        out["address"] = address
    if has("district"):
        out["district"] = str(data.get("district") or "").strip()[:80]
    if has("segment"):
        segment = str(data.get("segment") or "residential").strip()
        if segment not in SEGMENTS:
            errors["segment"] = str(_l("one of: %(values)s", values=", ".join(SEGMENTS)))
        out["segment"] = segment
    if has("services"):
        raw = data.get("services") or []
        services = [s.strip() for s in (raw.replace(";", ",").split(",") if isinstance(raw, str) else raw)
                    if isinstance(s, str) and s.strip()]
        if any(s not in SERVICES for s in services):
            errors["services"] = str(_l("one of: %(values)s", values=", ".join(SERVICES)))
        out["services"] = sorted(set(services))
    if "lat" in data or "lon" in data:
        lat, lon = data.get("lat"), data.get("lon")
        if lat in (None, "") and lon in (None, ""):
            out["lat"] = out["lon"] = None
        else:
            try:
                out["lat"], out["lon"] = check_point(lat, lon)
            except Invalid as err:
                recovered(err)  # folded into the one refusal below
                errors.update(err.fields)
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    return out


def create_customer(**data: Any) -> Customer:
    clean = _clean(data)
    if customer_by_account(clean["account_no"]):
        raise Conflict(str(_l("Account %(acc)s exists already.", acc=clean["account_no"])),
                       {"account_no": "taken"})
    customer = Customer(**clean)
    db.session.add(customer)
    db.session.flush()
    audit.record("customer.create", "customer", customer.id)
    return customer


def update_customer(customer: Customer, **data: Any) -> Customer:
    clean = _clean(data, partial=True)
    if "account_no" in clean and clean["account_no"] != customer.account_no and customer_by_account(clean["account_no"]):
        raise Conflict(str(_l("Account %(acc)s exists already.", acc=clean["account_no"])),
                       {"account_no": "taken"})
    for key, value in clean.items():
        setattr(customer, key, value)
    db.session.flush()
    audit.record("customer.update", "customer", customer.id, fields=sorted(clean))
    return customer


def reveal_contact(customer: Customer, what: str = "phone") -> str:
    """The full phone number or address, written to the audit log (without the value)."""
    audit.record(f"customer.reveal_{what}", "customer", customer.id)
    return customer.phone if what == "phone" else customer.address


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)

    @property
    def ok(self) -> bool:
        return not self.errors


def read_csv(text: str | bytes, required: tuple[str, ...]) -> csv.DictReader:
    """A reader over UTF-8 CSV text with a header row that has the required columns."""
    try:
        text = csvsafe.read_text(text)  # without the BOM our exports (and Excel's) begin with
    except UnicodeDecodeError:
        raise Invalid(str(_l("The file is not UTF-8 text."))) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise Invalid(str(_l("The CSV header lacks: %(cols)s", cols=", ".join(missing))))
    return reader


def import_customers_csv(text: str | bytes, *, only_good: bool = False) -> ImportReport:
    """Import customers from CSV with a header row.

    Every bad row is reported with its line number. Unless `only_good` is set,
    nothing is imported when any row is bad.
    """
    reader = read_csv(text, ("account_no", "name", "phone"))
    report = ImportReport()
    good: list[dict[str, Any]] = []
    seen: set[str] = set()
    existing = set(db.session.scalars(sa.select(Customer.account_no)))
    for row in reader:
        line = reader.line_num
        report.rows += 1
        try:
            # plain_cell: a file we exported comes back as it was (the quote that defused a formula goes)
            data = {k: (csvsafe.plain_cell(v) if v is not None else "") for k, v in row.items() if k in CSV_COLUMNS}
            clean = _clean(data)
        except Invalid as err:
            recovered(err)  # reported per line; with only_good the good rows are still saved
            report.errors.append((line, "; ".join(f"{k}: {v}" for k, v in err.fields.items()) or err.message))
            continue
        if clean["account_no"] in existing or clean["account_no"] in seen:
            report.errors.append((line, str(_l("account %(acc)s exists already", acc=clean["account_no"]))))
            continue
        seen.add(clean["account_no"])
        good.append(clean)
    if (report.errors and not only_good) or not good:
        return report  # nothing to save, not even the audit row
    for clean in good:
        db.session.add(Customer(**clean))
    db.session.flush()
    report.imported = len(good)
    audit.record("customer.import", "customer", None, rows=report.rows, imported=report.imported,
                 bad_rows=len(report.errors))
    return report


def export_customers_csv(customers: Iterable[Customer]) -> str:
    """The customers in import_customers_csv's columns; formula-looking text is defused (core.csvsafe)."""
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(CSV_COLUMNS)
    for c in customers:
        writer.writerow([c.account_no, c.name, c.phone, c.address, c.lat if c.lat is not None else "",
                         c.lon if c.lon is not None else "", c.district, c.segment, ",".join(c.services)])
    return out.getvalue()
