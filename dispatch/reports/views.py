"""Scorecards, the orders behind each figure, CSV export, the callback queue and the customer's survey link."""
from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from core import csvsafe
from core.access import allow, public
from core.db import now
from core.errors import DomainError, Invalid
from core.extensions import db
from core.links import NoPublicAddress, external_url
from dispatch.reports.models import QUESTION_LABELS, QUESTIONS
from dispatch.orders.models import STATUS_LABELS
from dispatch.orders.services.queries import sort_orders
from dispatch.reports.services import callbacks, kpis

bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")

STAFF = ("dispatcher", "supervisor", "admin")
READERS = (*STAFF, "technician")
FILTERS = ("station", "technician", "category", "service_line")
PER_PAGE = 50


def _actor() -> Any:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _query() -> tuple[kpis.Period, kpis.Filters]:
    """The period and filters of the query string; Invalid names every bad field (see _refused_filters)."""
    return kpis.read_query(_actor(), request.args)


def _link_args(period: kpis.Period, filters: kpis.Filters, group: str | None = None,
               key: str | None = None) -> dict[str, str]:
    """The query string that names a figure's orders: the period, the filters, the row's own key."""
    args = {**period.args(), **filters.labels}
    if group and key is not None:
        args[group] = key
    return args


def _page_context(actor: Any) -> dict[str, Any]:
    return dict(group_labels=kpis.GROUP_LABELS, bucket_labels=kpis.BUCKET_LABELS, questions=QUESTIONS,
                question_labels=QUESTION_LABELS, service_lines=kpis.SERVICE_LINE_LABELS,
                is_technician=actor.role == "technician", choices=kpis.filter_choices(actor, str(get_locale() or "")))


def _refused_filters(err: DomainError):
    """A bad filter is explained in the page: the scorecard's filter form, every bad field marked beside
    itself, what was typed kept (422; the figures are not shown)."""
    return render_template("reports/index.html", refused=err, errors=err.fields,
                           values=request.args.to_dict(), **_page_context(_actor())), 422


@bp.route("/")
@allow(*READERS)
def index():
    try:
        period, filters = _query()
    except Invalid as err:
        return _refused_filters(err)
    actor = _actor()
    locale = str(get_locale() or "")
    total = kpis.scorecard(actor, period, filters, None, locale)[0]
    groups = ["technician"] if actor.role == "technician" else ["station", "technician", "category", "service_line"]
    tables = [(g, kpis.scorecard(actor, period, filters, g, locale)) for g in groups]
    return render_template("reports/index.html", period=period, filters=filters, total=total, refused=None,
                           errors={}, values=_link_args(period, filters), tables=tables,
                           link_args=lambda g=None, k=None: _link_args(period, filters, g, k), **_page_context(actor))


@bp.route("/export.csv")
@allow(*READERS)
def export_csv():
    try:
        period, filters = _query()
        group = request.args.get("group") or None
        cards = kpis.scorecard(_actor(), period, filters, group, str(get_locale() or ""))
    except Invalid as err:
        return _refused_filters(err)
    buf = io.StringIO()
    csvsafe.writer(buf).writerows(kpis.csv_rows(cards))
    name = f"scorecard-{group or 'total'}-{period.first_day}-{period.last_day}.csv"
    return csvsafe.csv_response(buf.getvalue(), name)


@bp.route("/orders")
@allow(*READERS)
def orders():
    metric = request.args.get("metric") or "orders"
    try:
        period, filters = _query()
        stmt = kpis.orders_behind(metric, period, filters, request.args.get("level"))
    except Invalid as err:
        return _refused_filters(err)
    stmt, sort = sort_orders(stmt, request.args.get("sort"))
    page = db.paginate(stmt, per_page=PER_PAGE, error_out=False)
    return render_template("reports/orders.html", page=page, metric=metric, period=period, sort=sort,
                           filters=filters, args={**_link_args(period, filters), "metric": metric,
                                                  **({"level": request.args["level"]}
                                                     if request.args.get("level") else {})},
                           back_args=_link_args(period, filters), status_labels=STATUS_LABELS,
                           metric_label=kpis.METRIC_LABELS.get(metric, metric))


# --------------------------------------------------------------------------- callbacks

def _callback_queue_page(refused: tuple[Any, DomainError] | None = None):
    """The queue; after a refused callback, that order's form first, with every bad answer marked and
    the answers given kept."""
    page = db.paginate(callbacks.queue_query(_actor()), per_page=PER_PAGE, error_out=False)
    orders = list(page.items)
    refused_order, err = refused if refused else (None, None)
    if refused_order is not None and refused_order.status == "resolved":  # first, where the eye lands
        orders = [refused_order, *(o for o in orders if o.id != refused_order.id)]
    at = now()
    current = callbacks.current_callbacks(orders)
    rows = [(order, current.get(order.id), callbacks.due_at(order), callbacks.due_at(order) < at)
            for order in orders]
    return render_template("reports/callback_queue.html", page=page, rows=rows, questions=QUESTIONS,
                           question_labels=QUESTION_LABELS, max_attempts=callbacks.setting("CALLBACK_MAX_ATTEMPTS"),
                           field_labels={**QUESTION_LABELS, "satisfaction": _("Satisfaction (1–5)"),
                                         "comment": _("Comment")},
                           refused_id=refused_order.id if refused_order is not None else None, refused=err,
                           errors=callbacks.form_messages(err.fields) if err else {},
                           form=request.form if err else {})


@bp.route("/callbacks")
@allow(*STAFF)
def callback_queue():
    return _callback_queue_page()


@bp.route("/callbacks/<int:order_id>", methods=["POST"])
@allow(*STAFF)
def record_callback(order_id: int):
    order = callbacks.order_for_callback(order_id)
    try:
        cb = callbacks.record_callback(order, callbacks.answers_from_form(request.form), _actor())
    except Invalid as err:  # the request rolls back (core.errors); the form comes back marked
        return _callback_queue_page((order, err)), 422
    if cb.status == "pending":
        flash(_("%(number)s: not reached (attempt %(n)d).", number=order.number, n=cb.attempts), "success")
    elif cb.status == "unreachable":
        flash(_("%(number)s: closed as unreachable.", number=order.number), "success")
    elif cb.follow_up == "reopened":
        flash(_("%(number)s: the customer is not satisfied; the order is reopened.", number=order.number), "success")
    elif cb.follow_up == "complaint_visit":
        flash(_("%(number)s: closed; a complaint visit was opened.", number=order.number), "success")
    else:
        flash(_("%(number)s: callback recorded; the order is closed.", number=order.number), "success")
    return redirect(url_for("reports.callback_queue", **({"page": request.args["page"]}
                                                         if request.args.get("page") else {})))


@bp.route("/callbacks/<int:order_id>/link", methods=["POST"])
@allow(*STAFF)
def callback_link(order_id: int):
    order = callbacks.order_for_callback(order_id)
    token = callbacks.issue_link(order, _actor())
    try:
        url = external_url("reports.feedback", token=token)  # the configured host, never the request's
    except NoPublicAddress as err:
        flash(err.message, "error")
        return redirect(url_for("reports.callback_queue"))
    flash(_("Survey link for %(number)s (send it to the customer; it works once): %(url)s",
            number=order.number, url=url), "success")
    return redirect(url_for("reports.callback_queue"))


@bp.route("/feedback/<token>", methods=["GET", "POST"])
@public
def feedback(token: str):
    """The customer's one-time survey: no login, the token is the key (the form carries a CSRF token)."""
    try:
        cb = callbacks.callback_by_token(token)
        error = None
        if request.method == "POST":
            data = callbacks.answers_from_form(request.form)
            try:
                callbacks.answer_by_link(token, data)
            except DomainError as err:
                if err.status != 422:
                    raise
                error = err
            else:
                return render_template("reports/callback_feedback.html", done=True)
        return render_template("reports/callback_feedback.html", cb=cb, error=error, questions=QUESTIONS,
                               question_labels=QUESTION_LABELS, form=request.form,
                               field_labels={**QUESTION_LABELS, "comment": _("Anything else?"),
                                             "satisfaction": _("How satisfied are you? (1 = not at all, 5 = very)")},
                               errors=callbacks.form_messages(error.fields) if error else {}), 422 if error else 200
    except DomainError as err:
        return render_template("reports/callback_feedback.html", gone=err), err.status
