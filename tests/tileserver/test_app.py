"""The Flask app through its test client: tiles, caching, metadata, downloads, errors."""

from __future__ import annotations

import io
from pathlib import Path

import mercantile
import pytest
from PIL import Image

from covgap.tileserver import create_app
from covgap.tileserver.config import parse_settings


@pytest.fixture(scope="module")
def runs(client) -> list[dict]:
    return client.get("/api/runs").get_json()


@pytest.fixture(scope="module")
def centre_tile(runs) -> mercantile.Tile:
    w, s, e, n = runs[0]["bounds"]
    return mercantile.tile((w + e) / 2, (s + n) / 2, 13)


def _image(response) -> Image.Image:
    return Image.open(io.BytesIO(response.data))


def test_runs_list_layers_with_contract_fields(runs) -> None:
    assert [r["name"] for r in runs] == ["today", "two-off"]
    layer = next(l for l in runs[0]["layers"] if l["name"] == "received_power_4G")
    assert set(layer) >= {"name", "units", "bounds", "minzoom", "maxzoom", "value_range", "kind"}
    assert layer["units"] == "dBm" and layer["kind"] == "continuous"
    w, s, e, n = layer["bounds"]
    assert 108 < w < e < 109 and 16 < s < n < 17
    assert runs[0]["attribution"] and runs[0]["metadata"]["sites_provenance"] == "modelled"


@pytest.mark.parametrize("layer", ["received_power_4G", "covered_4G", "best_technology", "hillshade",
                                   "uncovered_population", "best_server_4G"])
def test_tile_is_256_png_with_data_and_transparent_nodata(client, centre_tile, layer: str) -> None:
    t = centre_tile
    response = client.get(f"/tiles/today/{layer}/{t.z}/{t.x}/{t.y}.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    image = _image(response).convert("RGBA")
    assert image.size == (256, 256)
    alpha = image.getchannel("A")
    assert alpha.getextrema()[1] > 0  # something is drawn


def test_tile_at_edge_is_partly_transparent(client, runs) -> None:
    w, s, e, n = runs[0]["bounds"]
    t = mercantile.tile(w, n, 13)  # north-west corner
    alpha = _image(client.get(f"/tiles/today/received_power_4G/{t.z}/{t.x}/{t.y}.png")).convert("RGBA")
    assert alpha.getchannel("A").getextrema() == (0, 210)


def test_hidpi_and_webp(client, centre_tile) -> None:
    t = centre_tile
    big = client.get(f"/tiles/today/received_power_4G/{t.z}/{t.x}/{t.y}@2x.png")
    assert big.status_code == 200 and _image(big).size == (512, 512)
    webp = client.get(f"/tiles/today/received_power_4G/{t.z}/{t.x}/{t.y}.webp")
    assert webp.mimetype == "image/webp" and _image(webp).format == "WEBP"
    webp2 = client.get(f"/tiles/today/received_power_4G/{t.z}/{t.x}/{t.y}@2x.webp")
    assert _image(webp2).size == (512, 512)


def test_tile_outside_data_is_transparent_200(client) -> None:
    response = client.get("/tiles/today/received_power_4G/10/0/0.png")
    assert response.status_code == 200
    image = _image(response).convert("RGBA")
    assert image.size == (256, 256) and image.getchannel("A").getextrema() == (0, 0)


def test_etag_cache_control_and_304(client, centre_tile) -> None:
    url = f"/tiles/today/covered_4G/{centre_tile.z}/{centre_tile.x}/{centre_tile.y}.png"
    first = client.get(url)
    etag = first.headers["ETag"]
    assert "max-age=" in first.headers["Cache-Control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    other_run = client.get(url.replace("/today/", "/two-off/"))
    assert other_run.headers["ETag"] != etag


def test_304_before_the_tile_is_cached(flask_app, client, centre_tile) -> None:
    url = f"/tiles/today/elevation/{centre_tile.z}/{centre_tile.x}/{centre_tile.y}@2x.webp"
    etag = client.get(url).headers["ETag"]
    flask_app.extensions["covgap"].cache.clear()
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.headers["ETag"] == etag


def test_head_of_a_cached_tile(client, centre_tile) -> None:
    url = f"/tiles/today/elevation/{centre_tile.z}/{centre_tile.x}/{centre_tile.y}.png"
    body = client.get(url).data
    head = client.head(url)
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == len(body)


def test_tiles_are_cached(flask_app, client, centre_tile) -> None:
    service = flask_app.extensions["covgap"]
    url = f"/tiles/today/population/{centre_tile.z}/{centre_tile.x}/{centre_tile.y}.png"
    body = client.get(url).data
    entries = len(service.cache)
    assert client.get(url).data == body
    assert len(service.cache) == entries


def test_runs_render_differently(client, runs) -> None:
    w, s, e, n = runs[0]["bounds"]
    t = mercantile.tile((w + e) / 2, (s + n) / 2, 10)
    today = client.get(f"/tiles/today/covered_4G/{t.z}/{t.x}/{t.y}.png").data
    other = client.get(f"/tiles/two-off/covered_4G/{t.z}/{t.x}/{t.y}.png").data
    assert today != other


@pytest.mark.parametrize("path, status, message", [
    ("/tiles/nope/covered_4G/10/0/0.png", 404, "no run 'nope'"),
    ("/tiles/today/nope/10/0/0.png", 404, "has no layer 'nope'"),
    ("/tiles/today/covered_4G/25/0/0.png", 400, "zoom must be between 0 and 24"),
    ("/tiles/today/covered_4G/-1/0/0.png", 400, "zoom must be between 0 and 24"),
    ("/tiles/today/covered_4G/2/4/0.png", 400, "between 0 and 3 at zoom 2"),
    ("/tiles/today/covered_4G/2/0/-1.png", 400, "between 0 and 3 at zoom 2"),
    ("/tiles/today/covered_4G/a/0/0.png", 400, "tile z must be an integer"),
    ("/tiles/today/covered_4G/2/0/0.jpg", 400, "tile name must look like"),
    ("/tiles/today/covered_4G/99999999999999999999/0/0.png", 400, "zoom must be"),
    ("/tiles/..%2F..%2Fetc/passwd/1/0/0.png", 404, ""),
    ("/tiles/today/..%2Fmanifest.json/1/0/0.png", 404, ""),
    ("/tiles/..%252F/covered_4G/1/0/0.png", 404, "no run '..%2f'"),
    ("/download/today/manifest.json", 404, "has no file 'manifest.json'"),
    ("/download/today/..%2F..%2Fetc%2Fpasswd", 404, ""),
    ("/download/nope/covered_4G.tif", 404, "no run 'nope'"),
    ("/download/two-off/gap_clusters.geojson", 200, None),
    ("/api/legend/today/nope", 404, "has no layer"),
    ("/api/point/today", 400, "'lon' is required"),
    ("/api/point/today?lon=1&lat=100", 400, "lat must be between -90 and 90"),
    ("/api/point/today?lon=x&lat=1", 400, "lon must be a number"),
    ("/api/point/nope?lon=1&lat=1", 404, "no run"),
    ("/api/stats/nope", 404, "no run"),
    ("/no/such/page", 404, "not found"),
])
def test_bad_requests_answer_json_4xx(client, path: str, status: int, message: str | None) -> None:
    with client.get(path) as response:
        assert response.status_code == status
        if message is not None:
            body = response.get_json()
            assert body["status"] == status
            assert message.lower() in body["message"].lower()


def test_wrong_method_is_405_json(client) -> None:
    response = client.post("/api/runs")
    assert response.status_code == 405 and response.get_json()["status"] == 405


def test_legend_json_and_png(client) -> None:
    legend = client.get("/api/legend/today/received_power_4G").get_json()
    assert legend["units"] == "dBm" and legend["colormap"] == "signal"
    assert legend["stops"][0]["value"] < legend["stops"][-1]["value"]
    classes = client.get("/api/legend/today/urbanisation").get_json()["classes"]
    assert [c["label"] for c in classes] == ["rural", "urban cluster", "urban centre"]
    png = client.get("/api/legend/today/best_technology.png")
    assert png.mimetype == "image/png" and _image(png).width > 100


def test_point_query_values_and_best_server(client, runs) -> None:
    w, s, e, n = runs[0]["bounds"]
    report = client.get(f"/api/point/today?lon={(w + e) / 2}&lat={(s + n) / 2}").get_json()
    assert report["inside"] is True
    values = report["values"]
    assert set(values) >= {"elevation", "received_power_4G", "covered_4G", "population"}
    assert values["received_power_4G"]["units"] == "dBm"
    assert values["covered_4G"]["label"] in ("covered", "not covered")
    server = report["best_server"]["4G"]
    assert server["site_id"] in ("A-001", "B-001", "C-001")
    assert 0 < server["distance_m"] < 10_000


def test_point_query_without_sites_table_or_outside(client, runs) -> None:
    w, s, e, n = runs[0]["bounds"]
    report = client.get(f"/api/point/two-off?lon={(w + e) / 2}&lat={(s + n) / 2}").get_json()
    assert report["best_server"] is None and "no site table" in report["best_server_note"]
    outside = client.get("/api/point/today?lon=0&lat=0").get_json()
    assert outside["inside"] is False and outside["values"]["elevation"]["value"] is None


def test_stats_are_the_summary(client) -> None:
    stats = client.get("/api/stats/today").get_json()
    assert stats["schema"] == "covgap.indicators/1"
    assert stats["groups"]["all_operators"]["total"]["at_least"]["4G"]["covered_pct"] > 0


def test_download_layer_geotiff(client, served_dir: Path) -> None:
    with client.get("/download/today/covered_4G.tif") as response:
        assert response.status_code == 200
        assert response.headers["Content-Disposition"] == "attachment; filename=today_covered_4G.tif"
        assert response.data == (served_dir / "today" / "covered_4G.tif").read_bytes()


def test_download_gap_clusters(client) -> None:
    with client.get("/download/today/gap_clusters.geojson") as response:
        assert response.mimetype == "application/geo+json"
        assert response.get_json()["features"][0]["properties"]["population"] > 0


def test_openapi_lists_every_route(client) -> None:
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert {"/tiles/{run}/{layer}/{z}/{x}/{tile}", "/api/runs", "/api/legend/{run}/{layer}",
            "/api/point/{run}", "/api/stats/{run}", "/download/{run}/{file}"} <= set(doc["paths"])


def test_index_serves_local_leaflet_only(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert "//unpkg" not in html and "cdn" not in html.lower()
    for path in ("/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/images/marker-icon.png",
                 "/static/app.js", "/static/app.css"):
        with client.get(path) as response:
            assert response.status_code == 200


def test_single_run_directory_is_served(served_dir: Path) -> None:
    app = create_app(parse_settings({}, directory=str(served_dir / "two-off")))
    assert [r["name"] for r in app.test_client().get("/api/runs").get_json()] == ["two-off"]


def test_unexpected_error_is_json_500_not_traceback(served_dir: Path, monkeypatch) -> None:
    app = create_app(parse_settings({}, directory=str(served_dir)))
    monkeypatch.setattr(app.extensions["covgap"], "etag", lambda *a: 1 / 0)
    response = app.test_client().get("/tiles/today/covered_4G/1/0/0.png")
    assert response.status_code == 500
    assert response.get_json()["message"] == "internal error; see the server log"
