"""field: `flask push ...` — VAPID keys and delivering the outbox by hand."""
from __future__ import annotations

import json
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from field import push, services

push_cli = AppGroup("push", help="Web Push: VAPID keys and alert delivery.")


@push_cli.command("vapid")
def vapid_command() -> None:
    """Create the VAPID key pair in the instance folder if missing; print the public key."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    created = push.ensure_vapid_key(app)
    click.echo(push.public_key(app))
    click.echo(f"{'created' if created else 'kept'} {push.vapid_path(app)}", err=True)


@push_cli.command("deliver")
@click.option("--max", "max_alerts", type=int, default=None, help="Stop after this many alerts.")
def deliver_command(max_alerts: int | None) -> None:
    """Send the due pending alerts now (what the periodic job does) and print the counts."""
    click.echo(json.dumps(push.deliver_due(max_alerts=max_alerts), sort_keys=True))


def load_resolution_codes(seed: int, progress: Any, size: str = "full") -> None:
    """Demo step: the resolution codes of the standard categories (after the orders step made them)."""
    services.ensure_resolution_codes()


def register(app: Flask) -> None:
    app.cli.add_command(push_cli)
