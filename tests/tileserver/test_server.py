"""One real server process (waitress, via ``covgap.tileserver.serve``) over HTTP."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import mercantile
from PIL import Image


def _get(url: str, headers: dict[str, str] | None = None):
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10)


def test_real_server_answers_runs_tiles_and_errors(live_server: tuple[str, Path]) -> None:
    url, log_path = live_server
    runs = json.load(_get(url + "/api/runs"))
    assert [r["name"] for r in runs] == ["today", "two-off"]
    w, s, e, n = runs[0]["bounds"]
    t = mercantile.tile((w + e) / 2, (s + n) / 2, 12)
    with _get(f"{url}/tiles/today/received_power_4G/{t.z}/{t.x}/{t.y}.png") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        etag = response.headers["ETag"]
        assert Image.open(io.BytesIO(response.read())).size == (256, 256)
    try:
        _get(f"{url}/tiles/today/received_power_4G/{t.z}/{t.x}/{t.y}.png", {"If-None-Match": etag})
    except urllib.error.HTTPError as exc:
        assert exc.code == 304
    else:
        raise AssertionError("expected 304")
    try:
        _get(url + "/tiles/today/received_power_4G/30/0/0.png")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        assert "zoom must be" in json.load(exc)["message"]
    else:
        raise AssertionError("expected 400")
    assert b"leaflet.js" in _get(url + "/").read()


def test_real_server_logs_one_line_per_request(live_server: tuple[str, Path]) -> None:
    url, log_path = live_server
    _get(url + "/api/stats/today?marker=log-test").read()
    for _ in range(50):  # the log line is written when the response is finished
        lines = [l for l in log_path.read_text().splitlines() if "marker=log-test" in l]
        if lines:
            break
        time.sleep(0.05)
    assert len(lines) == 1
    assert '"GET /api/stats/today?marker=log-test" 200' in lines[0]
