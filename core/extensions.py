"""Bare extension instances; the factory calls init_app on each."""
from typing import Any

from flask import request
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy as _SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from core.db import Base

MAX_PAGE = 1_000_000


class SQLAlchemy(_SQLAlchemy):
    def paginate(self, select: Any, *, page: int | None = None, per_page: int | None = None,
                 max_per_page: int | None = None, error_out: bool = True, count: bool = True) -> Any:
        """Flask-SQLAlchemy's, reading ?page= and ?per_page= with core.parse's rules: a page of
        10**20 would ask for an OFFSET neither database takes (a 500), and '²' is no number."""
        from core.parse import parse_int
        if page is None and request:
            page = parse_int(request.args.get("page"), "page", lo=1, hi=MAX_PAGE)
        if per_page is None and request:
            per_page = parse_int(request.args.get("per_page"), "per_page", lo=1, hi=max_per_page or 100)
        if page is not None:
            page = parse_int(page, "page", lo=1, hi=MAX_PAGE)
        return super().paginate(select, page=page or 1, per_page=per_page or 20, max_per_page=max_per_page,
                                error_out=error_out, count=count)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
