"""Command line: `flask --app app users create`, `demo`, `sla tick`, `worker`."""
from __future__ import annotations

import json
from typing import Callable

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from core import auth, stations
from core.errors import DomainError
from core.extensions import db

# A step of the demo load: (name, fn(seed=..., progress=...)); create_app lists them in order.
DemoStep = tuple[str, Callable[..., object]]


users_cli = AppGroup("users", help="Manage user accounts.")


@users_cli.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(auth.ROLES))
@click.option("--station", "station_code", default=None, help="Station code, for station staff.")
@click.option("--password", default=None, help="Prompted for when not given.")
@click.option("--full-name", default="")
def users_create(name: str, role: str, station_code: str | None, password: str | None, full_name: str) -> None:
    """Add a user."""
    station = None
    if station_code:
        station = stations.station_by_code(station_code)
        if station is None:
            raise click.ClickException(f"No station with code {station_code}.")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = auth.create_user(name, role, password, station=station, full_name=full_name)
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        raise click.ClickException(err.message + (f" {json.dumps(err.fields)}" if err.fields else ""))
    click.echo(f"created {user.username} ({user.role})")


@click.command("demo")
@with_appcontext
@click.option("--force", is_flag=True, help="Load even when the database holds data already.")
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) when the database holds data.")
@click.option("--seed", default=24, show_default=True)
@click.option("--size", type=click.Choice(["full", "small"]), default="full", show_default=True,
              help="small: the same city with fewer customers and orders (what the tests load).")
def demo(force: bool, if_empty: bool, seed: int, size: str) -> None:
    """Load the demo city (Shenzhen) and print the demo logins."""
    from core.demo import LOGINS, database_is_empty

    steps: list[DemoStep] = current_app.extensions.get("restore24_demo_steps", [])

    if not database_is_empty():
        if if_empty:
            click.echo("The database holds data already; demo not loaded.")
            _print_logins(LOGINS)
            return
        if not force:
            raise click.ClickException("The database is not empty; use --force to load the demo anyway.")
    for name, step in steps:
        click.echo(f"· {name}")
        step(seed=seed, progress=_progress, size=size)
        db.session.commit()
    _print_logins(LOGINS)


def _progress(items, label: str):
    return click.progressbar(items, label=f"  {label}", show_pos=True, file=None)


def _print_logins(logins: list[tuple[str, str, str]]) -> None:
    click.echo("\nDemo logins (username / password):")
    for username, password, what in logins:
        click.echo(f"  {username:<16} {password:<14} {what}")
    click.echo(f"\nOpen {current_app.config.get('PUBLIC_URL', 'http://127.0.0.1:5000')}/login")


sla_cli = AppGroup("sla", help="Deadlines and the periodic jobs.")


@sla_cli.command("tick")
def sla_tick() -> None:
    """Run one pass of the periodic jobs now and print what it did."""
    from core.scheduler import run_tick

    result = run_tick(current_app._get_current_object())  # type: ignore[attr-defined]
    if result is None:
        click.echo("Another process holds the scheduler lease; nothing done.")
        return
    for name, outcome in result.items():
        click.echo(f"{name}: {outcome}")


@click.command("worker")
@with_appcontext
def worker_command() -> None:
    """Run the periodic jobs and the alert delivery until SIGTERM or Ctrl-C (the web processes run none)."""
    from core.metrics import serve_worker_metrics
    from core.worker import run_until_signalled

    serve_worker_metrics(current_app._get_current_object(), announce=click.echo)  # type: ignore[attr-defined]
    run_until_signalled(current_app._get_current_object(), announce=click.echo)  # type: ignore[attr-defined]


translations_cli = AppGroup("translations", help="UI translations.")


@translations_cli.command("compile")
def translations_compile() -> None:
    """Compile the zh_CN catalogues of every package."""
    from core.i18n import compile_catalogs

    for path in compile_catalogs():
        click.echo(f"compiled {path}")


def register(app: Flask, demo_steps: list[DemoStep]) -> None:
    names = [name for name, _ in demo_steps]
    if len(set(names)) != len(names):
        raise ValueError(f"demo steps repeat: {names}")
    app.extensions["restore24_demo_steps"] = list(demo_steps)
    app.cli.add_command(users_cli)
    app.cli.add_command(demo)
    app.cli.add_command(sla_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(translations_cli)
    from core.backup import backup_command, restore_command
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
