"""Items have an English and a Chinese name, and units are codes: the stock pages show both in the
reader's language."""
from __future__ import annotations

import pytest

from core.auth import User
from core.extensions import db
from inventory import services
from inventory.models import UNIT_LABELS, Item


@pytest.fixture
def store(app, make_station, make_user):
    station = make_station("S01")
    keeper = make_user("stockkeeper", username="keeper", station=station)
    admin = make_user("admin", username="boss")
    with app.app_context():
        boss = db.session.get(User, admin.id)
        services.save_item(sku="CBL-RG6", name="RG-6 coaxial cable", name_zh="RG-6 同轴电缆", category="cable",
                           unit="m", actor=boss)
        services.save_item(sku="CON-F", name="F connector", category="connector", actor=boss)  # no Chinese name
        services.ensure_locations()
        services.record_move("receive", sku="CBL-RG6", qty=120, target="S01", actor=boss)
        services.record_move("receive", sku="CON-F", qty=5, target="S01", actor=boss)
        db.session.commit()
    return {"keeper": keeper, "admin": admin}


def test_the_stock_page_shows_chinese_names_and_units_in_chinese(client, store, login):
    login(store["keeper"])
    english = client.get("/inventory/").get_data(as_text=True)
    assert "RG-6 coaxial cable" in english and "120 m" in english and "RG-6 同轴电缆" not in english
    client.post("/language/zh_CN")
    chinese = client.get("/inventory/").get_data(as_text=True)
    assert "RG-6 同轴电缆" in chinese and "120 米" in chinese and "RG-6 coaxial cable" not in chinese
    assert "F connector" in chinese and "5 个" in chinese  # no Chinese name: the English one
    moves = client.get("/inventory/moves").get_data(as_text=True)
    assert "RG-6 同轴电缆" in moves and "120 米" in moves


def test_the_chinese_name_is_kept_searched_and_exported(app, client, store, login):
    login(store["admin"])
    resp = client.post("/inventory/items", data={"sku": "SPL-2W", "name": "2-way splitter", "name_zh": "二分支器",
                                                 "category": "splitter", "unit": "pcs"})
    assert resp.status_code == 302
    with app.app_context():
        boss = db.session.get(User, store["admin"].id)
        services.save_item(sku="SPL-2W", name="2-way splitter v2", category="splitter", actor=boss)  # the API's way
        assert db.session.scalar(db.select(Item.name_zh).where(Item.sku == "SPL-2W")) == "二分支器"
    page = client.get("/inventory/items?q=分支").get_data(as_text=True)
    assert "SPL-2W" in page and "CBL-RG6" not in page
    csv_text = client.get("/inventory/items.csv").get_data(as_text=True)
    assert "name_zh" in csv_text.splitlines()[0] and "二分支器" in csv_text


def test_a_too_long_chinese_name_is_refused(app, store):
    from core.errors import Invalid
    with app.app_context():
        boss = db.session.get(User, store["admin"].id)
        with pytest.raises(Invalid) as err:
            services.save_item(sku="X-1", name="X", name_zh="长" * 121, category="cable", actor=boss)
        assert err.value.fields == {"name_zh": "invalid"}


def test_every_unit_code_has_a_chinese_label(app):
    from flask_babel import force_locale
    with app.test_request_context(), force_locale("zh_CN"):
        labels = {code: str(label) for code, label in UNIT_LABELS.items()}
    assert labels["pcs"] == "个" and labels["m"] == "米" and labels["box"] == "盒"
    assert all(label != code for code, label in labels.items())
