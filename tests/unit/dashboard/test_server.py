"""The dashboard's web side without Kafka: read-only routes, loopback names only, the live updates, the CLI."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pricestream.cli import build_parser
from pricestream.dashboard import server
from pricestream.dashboard.server import Dashboard, plotly_js
from pricestream.dashboard.state import DashboardState
from pricestream.dashboard.worker_watch import WorkerWatch
from pricestream.settings import Settings
from schemas import examples as ex
from schemas.codec import encode

SETTINGS = Settings.from_env({}).replace(topic_prefix="p.")


def dashboard(loopback_only: bool = True) -> Dashboard:
    state = DashboardState()
    for sku in ("A-1", "B-2"):
        entry = ex.catalog_entry(sku=sku)
        state.apply("catalog", sku.encode(), encode(entry), 0)
    return Dashboard(SETTINGS, state, WorkerWatch("http://127.0.0.1:1"), reader=None, loopback_only=loopback_only)


def run(test, board: Dashboard | None = None):
    async def go():
        async with TestClient(TestServer(board.app() if board else dashboard().app(), host="127.0.0.1")) as client:
            return await test(client)
    return asyncio.run(go())


def test_the_page_its_scripts_and_plotly_are_served_from_here_with_a_strict_policy():
    async def test(client):
        page = await client.get("/")
        assert page.status == 200 and "text/html" in page.headers["Content-Type"]
        html = await page.text()
        assert '<script src="/static/plotly.min.js"' in html and "<script>" not in html    # no inline script
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe-eval" not in policy and "frame-ancestors 'none'" in policy
        plotly = await client.get("/static/plotly.min.js")
        assert plotly.status == 200 and len(await plotly.read()) == plotly_js().stat().st_size
        assert (await client.get("/static/app.js")).status == 200
        assert (await client.get("/static/server.py")).status == 404
        assert (await client.get("/static/..%2fserver.py")).status == 404
    run(test)


def test_every_route_is_read_only():
    async def test(client):
        for path in ("/", "/api/summary", "/api/skus", "/api/sku/A-1", "/api/events", "/static/app.js", "/nowhere"):
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                response = await client.request(method, path, data=b"{}")
                assert response.status == 405, (method, path)
    run(test)


def test_a_foreign_host_name_is_refused_on_loopback_and_served_when_bound_elsewhere():
    async def refused(client):
        for host in ("attacker.example", "attacker.example:8066", "10.0.0.5:8066"):
            response = await client.get("/api/summary", headers={"Host": host})
            assert response.status == 403, host
        for host in ("localhost:8066", "127.0.0.1", "[::1]:8066"):
            assert (await client.get("/api/summary", headers={"Host": host})).status == 200, host
    run(refused)

    async def served(client):
        assert (await client.get("/api/summary", headers={"Host": "shop-dashboard.internal"})).status == 200
    run(served, dashboard(loopback_only=False))


def test_the_table_and_a_sku_come_from_the_state():
    async def test(client):
        page = await (await client.get("/api/skus", params={"q": "b-", "sort": "price", "desc": "1"})).json()
        assert page["total"] == 1 and page["rows"][0]["sku"] == "B-2" and page["descending"] is True
        assert (await client.get("/api/skus", params={"offset": "x"})).status == 400
        detail = await (await client.get("/api/sku/A-1")).json()
        assert detail["sku"] == "A-1" and detail["floor"] == 12.0 and set(detail["timeline"]) >= {"t", "price"}
        assert (await client.get("/api/sku/NOPE")).status == 404
        summary = await (await client.get("/api/summary")).json()
        assert summary["skus"] == 2 and summary["worker"] == {} and summary["reader"]["caught_up"] is False
    run(test)


def test_the_event_stream_names_what_changed(monkeypatch):
    monkeypatch.setattr(server, "UPDATE_INTERVAL_S", 0.05)
    board = dashboard()

    async def test(client):
        publisher = asyncio.create_task(board.publish_updates())
        try:
            stream = await client.get("/api/events")
            assert stream.headers["Content-Type"] == "text/event-stream"
            board.state.take_changes()                       # what the page had when it loaded
            change = {"schema_version": 1, "event_id": "e1", "sku": "B-2", "event_time_ms": 5, "policy": "static",
                      "old_price": None, "new_price": 21.0, "reasons": ["list-price"], "inputs": {},
                      "trigger": "catalog", "trigger_event_id": "c"}
            board.state.apply("price-changes", b"B-2", json.dumps(change).encode(), 0)
            while True:
                line = (await asyncio.wait_for(stream.content.readline(), 10)).decode()
                if line.startswith("data: "):
                    update = json.loads(line[6:])
                    break
            assert update["changed"] == ["B-2"] and update["many_changed"] is False
            assert update["feed"][0]["event_id"] == "e1" and update["price_changes"] == 1
            stream.close()
        finally:
            publisher.cancel()
    run(test, board)


def test_the_worker_watch_turns_counters_into_rates_and_survives_a_restart():
    watch = WorkerWatch("http://w")
    text = 'pricestream_events_consumed_total{topic="orders"} %d\npricestream_consumer_lag{topic="orders",partition="0"} %d\n'
    assert watch.observe(100.0, text % (10, 4), {"ready": True})["events_per_s"] is None       # nothing to compare yet
    sample = watch.observe(102.0, text % (30, 1), {"ready": True}, dashboard_read=50)
    assert sample["events_per_s"] == 10.0 and sample["lag"] == 1.0
    assert watch.observe(104.0, text % (5, 0), {"ready": False})["events_per_s"] is None        # counters reset
    assert watch.latest["ready"] is False and watch.latest["reachable"] is True
    gone = watch.observe(106.0, None, None, "ClientConnectorError")
    assert gone["lag"] is None and watch.latest["reachable"] is False
    assert watch.latest["error"] == "ClientConnectorError"
    assert len(watch.samples) == 4


def test_the_cli_and_the_settings_default_to_loopback():
    args = build_parser().parse_args(["dashboard"])
    assert (args.host, args.port, args.worker_url, args.lookback_hours) == (None, None, None, 24.0)
    assert args.func.__name__ == "cmd_dashboard"
    settings = Settings.from_env({})
    assert (settings.dashboard_host, settings.dashboard_port) == ("127.0.0.1", 8066)
    assert settings.dashboard_port != settings.web_port
    args = build_parser().parse_args(["dashboard", "--host", "0.0.0.0", "--port", "9000", "--lookback-hours", "2"])
    assert (args.host, args.port, args.lookback_hours) == ("0.0.0.0", 9000, 2.0)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_addresses(host):
    assert server.is_loopback(host)
