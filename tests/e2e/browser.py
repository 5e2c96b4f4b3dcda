"""Debian's headless Chromium, driven over the Chrome DevTools protocol, for end-to-end tests of web pages.

A small synchronous client: aiohttp's websocket (already installed with Faust) on an event loop of its
own thread. It collects the page's uncaught exceptions and console errors (a blocked script, a CSP
violation) so a test can assert that there were none.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import aiohttp


class BrowserError(RuntimeError):
    pass


def chromium_executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    def __init__(self, profile_dir: Path, log_path: Path, width: int = 1500, height: int = 1900,
                 timeout_s: float = 60):
        executable = chromium_executable()
        if executable is None:
            raise BrowserError("chromium is not installed ('make test' installs it: apt-get install chromium)")
        profile_dir.mkdir(parents=True, exist_ok=True)
        flags = ["--headless=new", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
                 f"--user-data-dir={profile_dir}", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                 "--disable-component-update", "--hide-scrollbars", f"--window-size={width},{height}"]
        if os.geteuid() == 0:
            flags.append("--no-sandbox")        # Chromium refuses to run as root with its sandbox
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen([executable, *flags, "about:blank"], stdout=self._log, stderr=self._log,
                                        start_new_session=True)
        self.errors: list[str] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cdp", daemon=True)
        self._thread.start()
        try:
            port = self._devtools_port(profile_dir / "DevToolsActivePort", timeout_s)
            self._call(self._connect(port), timeout_s)
            self.send("Runtime.enable")
            self.send("Log.enable")
            self.send("Page.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, port_file: Path, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}; see {self.log_path}")
            if port_file.exists():
                lines = port_file.read_text().split()
                if lines:
                    return int(lines[0])
            time.sleep(0.1)
        raise BrowserError(f"chromium did not open its DevTools port in {timeout_s} s; see {self.log_path}")

    async def _connect(self, port: int) -> None:
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t["type"] == "page")
        self._ws = await self._session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif data.get("method") == "Runtime.exceptionThrown":
                details = data["params"]["exceptionDetails"]
                self.errors.append(details.get("exception", {}).get("description") or details.get("text", "?"))
            elif data.get("method") == "Log.entryAdded" and data["params"]["entry"]["level"] == "error":
                self.errors.append(data["params"]["entry"]["text"])
            elif data.get("method") == "Runtime.consoleAPICalled" and data["params"]["type"] == "error":
                self.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in data["params"]["args"]))

    async def _send(self, method: str, params: dict) -> dict:
        message_id = next(self._ids)
        future = self._loop.create_future()
        self._waiting[message_id] = future
        await self._ws.send_str(json.dumps({"id": message_id, "method": method, "params": params}))
        return await future

    def _call(self, coroutine, timeout_s: float):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    def send(self, method: str, timeout_s: float = 30, **params) -> dict:
        reply = self._call(self._send(method, params), timeout_s)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    # -- what tests use ---------------------------------------------------------------------------

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 60, what: str = ""):
        """Poll until the expression is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = self.evaluate(expression)
            except BrowserError:
                value = None            # the page is (re)loading
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not in the page after {timeout_s} s: {what or expression}")
            time.sleep(0.25)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        async def shut():
            if getattr(self, "_ws", None) is not None:
                await self._ws.close()
            if getattr(self, "_session", None) is not None:
                await self._session.close()
        try:
            self._call(shut(), 10)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
