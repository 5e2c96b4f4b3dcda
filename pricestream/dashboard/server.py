"""``pricestream dashboard``: a read-only web page over the topics and the worker, updated live (SSE).

Only GET routes exist. Bound to loopback (the default), it also refuses requests whose Host header is
not a loopback name, so a web page elsewhere cannot reach it through DNS rebinding. Every text that
comes from events (SKUs, reasons, dead-letter errors) is inserted in the page as text, never as HTML,
and the Content-Security-Policy allows scripts from the dashboard itself only.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import json
import logging
import signal
import time
from pathlib import Path

from aiohttp import web

from pricestream.dashboard.reader import Batch, TopicReader
from pricestream.dashboard.state import TOPICS_READ, DashboardState
from pricestream.dashboard.worker_watch import WorkerWatch, shown_url
from pricestream.settings import Settings

log = logging.getLogger("pricestream.dashboard")

STATIC = Path(__file__).parent / "static"
UPDATE_INTERVAL_S = 1.0          # at most one update a second per page, however fast the topics move
WORKER_POLL_S = 2.0
KEEPALIVE_S = 15.0
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
LOOPBACK_NAMES = ("localhost",)


def plotly_js() -> Path:
    """plotly.js as the ``plotly`` Python package ships it: served from here, no CDN."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is missing: pip install 'plotly>=6,<8'")
    return Path(spec.submodule_search_locations[0]) / "package_data" / "plotly.min.js"


STATIC_FILES = {"app.js": "application/javascript", "style.css": "text/css"}


def is_loopback(host: str) -> bool:
    """
    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.1.2.3")]
    [True, True, True, False, False]
    """
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header, without the port.

    >>> [host_name(h) for h in ("127.0.0.1:8066", "[::1]:8066", "localhost", "evil.example:80")]
    ['127.0.0.1', '::1', 'localhost', 'evil.example']
    """
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Hub:
    """Fans the updates out to every open page; a page that does not keep up misses updates, not memory."""

    def __init__(self):
        self.queues: set[asyncio.Queue] = set()

    def publish(self, message: bytes) -> None:
        for queue in self.queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Dashboard:
    """The state, the worker watch and the update loop, with the web routes over them."""

    def __init__(self, settings: Settings, state: DashboardState, watch: WorkerWatch,
                 reader: TopicReader | None = None, loopback_only: bool = True):
        self.settings = settings
        self.state = state
        self.watch = watch
        self.reader = reader
        self.loopback_only = loopback_only
        self.hub = Hub()
        self.started = time.time()

    # -- what the page reads --------------------------------------------------------------------------

    def overview(self) -> dict:
        return {
            **self.state.summary(), "worker": self.watch.latest, "samples": list(self.watch.samples),
            "reader": {"caught_up": bool(self.reader and self.reader.caught_up.is_set()),
                       "error": self.reader.error if self.reader else None},
            "topic_prefix": self.settings.topic_prefix, "history_points": self.state.history_points,
        }

    def update(self) -> dict:
        changed, many = self.state.take_changes()
        summary = self.overview()
        summary["samples"] = list(self.watch.samples)[-1:]
        return {**summary, "changed": changed, "many_changed": many}

    # -- routes ---------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/plotly.min.js", self._plotly)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/summary", self._summary)
        app.router.add_get("/api/skus", self._skus)
        app.router.add_get("/api/sku/{sku}", self._sku)
        app.router.add_get("/api/events", self._events)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])        # read-only, whatever the route
        if self.loopback_only and not is_loopback(host_name(request.host)):
            raise web.HTTPForbidden(text="this dashboard answers on loopback names only\n")
        response = await handler(request)
        if response.prepared:           # a finished event stream: its headers went out with the first byte
            return response
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    async def _index(self, request):
        return web.FileResponse(STATIC / "index.html", headers={"Content-Type": "text/html; charset=utf-8",
                                                                "Cache-Control": "no-cache"})

    async def _plotly(self, request):
        return web.FileResponse(plotly_js(), headers={"Content-Type": "application/javascript",
                                                      "Cache-Control": "max-age=86400"})

    async def _static(self, request):
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Content-Type": STATIC_FILES[name],
                                                        "Cache-Control": "no-cache"})

    async def _summary(self, request):
        return web.json_response(self.overview(), headers={"Cache-Control": "no-store"})

    async def _skus(self, request):
        q = request.query
        try:
            offset, limit = int(q.get("offset", 0)), int(q.get("limit", 50))
        except ValueError:
            raise web.HTTPBadRequest(text="offset and limit are integers\n") from None
        page = self.state.page(q.get("q", "")[:64], q.get("sort", "sku"), q.get("desc") in ("1", "true"),
                               offset, limit)
        return web.json_response(page, headers={"Cache-Control": "no-store"})

    async def _sku(self, request):
        detail = self.state.sku_detail(request.match_info["sku"])
        if detail is None:
            raise web.HTTPNotFound(text="no such SKU in the catalogue\n")
        return web.json_response(detail, headers={"Cache-Control": "no-store"})

    async def _events(self, request):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        queue: asyncio.Queue = asyncio.Queue(maxsize=5)
        self.hub.queues.add(queue)
        try:
            await response.write(b"retry: 2000\n\n")
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    message = b": keep-alive\n\n"
                await response.write(message)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.hub.queues.discard(queue)
        return response

    # -- background -----------------------------------------------------------------------------------

    async def publish_updates(self) -> None:
        published = (-1, -1)
        while True:
            await asyncio.sleep(UPDATE_INTERVAL_S)
            seen = (self.state.version, len(self.watch.samples) and self.watch.samples[-1]["t"])
            if seen != published and self.hub.queues:
                self.hub.publish(sse("update", self.update()))
                published = seen

    async def poll_worker(self) -> None:
        import aiohttp

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WORKER_POLL_S)) as session:
            while True:
                await self.watch.poll(session, sum(self.state.read.values()))
                await asyncio.sleep(WORKER_POLL_S)


def worker_url(settings: Settings) -> str:
    """The worker's web root as seen from here (a worker bound to every address is reached on loopback).

    >>> worker_url(Settings.from_env({"PRICESTREAM_WEB_HOST": "0.0.0.0", "PRICESTREAM_WEB_PORT": "7000"}))
    'http://127.0.0.1:7000'
    """
    host = settings.web_host if settings.web_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.web_port}"


async def serve(settings: Settings, host: str, port: int, worker: str, lookback_s: float,
                announce=print) -> None:
    loop = asyncio.get_running_loop()
    state = DashboardState(settings.max_payload_bytes)

    def deliver(batch: Batch) -> None:         # on the reader's thread: the loop applies, the reader waits
        asyncio.run_coroutine_threadsafe(_apply(state, batch), loop).result()

    reader = TopicReader(settings, TOPICS_READ, deliver, lookback_s)
    dashboard = Dashboard(settings, state, WorkerWatch(worker), reader, loopback_only=is_loopback(host))
    runner = web.AppRunner(dashboard.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, shutdown_timeout=1.0).start()
    reader.start()
    tasks = [asyncio.create_task(dashboard.publish_updates()), asyncio.create_task(dashboard.poll_worker())]
    shown = f"[{host}]" if ":" in host else host
    announce(f"pricestream dashboard: http://{shown}:{port}/ (read-only; topics {settings.topic('*')}, "
             f"worker {shown_url(worker)})")
    if not is_loopback(host):
        announce(f"pricestream dashboard: listening on {host}, not only on loopback: anyone who reaches this "
                 f"address sees the prices and decisions (read-only, no authentication)")
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        reader.stop()
        for task in tasks:
            task.cancel()
        await runner.cleanup()


async def _apply(state: DashboardState, batch: Batch) -> None:
    state.apply_many(batch)


def run_dashboard(args, settings: Settings) -> int:
    host = args.host or settings.dashboard_host
    port = args.port if args.port is not None else settings.dashboard_port
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python logs every failed reconnect as an error; the reader says what matters, here and on the page
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        asyncio.run(serve(settings, host, port, args.worker_url or worker_url(settings), args.lookback_hours * 3600,
                          announce=lambda line: print(line, flush=True)))
    except OSError as exc:
        print(f"pricestream dashboard: cannot listen on {host}:{port}: {exc}", flush=True)
        return 1
    return 0
