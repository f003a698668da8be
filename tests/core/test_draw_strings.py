"""The station area editor's Draw toolbar speaks the page's language."""
from __future__ import annotations

import json
import re


def _strings(page: str) -> dict:
    raw = re.search(r'<script type="application/json" id="leaflet-draw-strings">(.*?)</script>', page, re.S)
    return json.loads(raw.group(1))


def test_the_draw_toolbar_texts_come_in_chinese_before_the_map_script(client, as_role):
    as_role("admin")
    english = _strings(client.get("/admin/stations/new").get_data(as_text=True))
    assert english["draw"]["toolbar"]["buttons"]["polygon"] == "Draw a polygon"
    client.post("/language/zh_CN")
    page = client.get("/admin/stations/new").get_data(as_text=True)
    chinese = _strings(page)
    assert chinese["draw"]["toolbar"]["buttons"]["polygon"] == "绘制多边形"
    assert chinese["edit"]["handlers"]["edit"]["tooltip"]["text"] == "拖动控制点以修改区域。"
    assert "<strong>错误：</strong>" in chinese["draw"]["handlers"]["polyline"]["error"]
    # the texts are merged into L.drawLocal after leaflet.draw.js and before the toolbar is built
    assert page.index("leaflet.draw.js") < page.index("js/draw_local.js") < page.index("L.Control.Draw")
