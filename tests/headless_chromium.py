"""A headless Chromium for browser tests, driven over the DevTools protocol.

Chromium's own `--dump-dom`/`--screenshot` flags capture once the page's timers are idle, but
kedro-viz lays its graph out in a web worker that those flags do not wait for: large pipelines
come out empty. Here a test can wait for a condition in the page (a JavaScript expression), then
read values and take a screenshot. The protocol goes over a websocket (`websockets`, installed
with kedro-viz's `uvicorn[standard]`).
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI containers run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",  # Chromium picks a free port and writes it to DevToolsActivePort
)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def static_server(directory: Path) -> Iterator[str]:
    """`python -m http.server` on a free localhost port, serving `directory`; yields its URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"http.server did not start on port {port}") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


class HeadlessChromium:
    """One headless Chromium process and its first tab."""

    def __init__(self, executable: str, profile_dir: Path, window: tuple[int, int] = (1600, 1000)):
        profile_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(profile_dir / "chromium.log", "wb")  # noqa: SIM115 (closed in close())
        self._process = subprocess.Popen(
            [
                executable,
                *FLAGS,
                f"--user-data-dir={profile_dir}",
                f"--window-size={window[0]},{window[1]}",
                "about:blank",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._next_id = 0
        self._closing = ExitStack()
        try:
            port = self._devtools_port(profile_dir / "DevToolsActivePort")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                pages = [t for t in json.load(r) if t["type"] == "page"]
            self._socket = self._closing.enter_context(
                connect(pages[0]["webSocketDebuggerUrl"], max_size=None)
            )
            self.call("Page.enable")
            self.call("Runtime.enable")
            # Headless windows lose their height to absent browser chrome: fix the viewport.
            self.call(
                "Emulation.setDeviceMetricsOverride",
                width=window[0],
                height=window[1],
                deviceScaleFactor=1,
                mobile=False,
            )
        except Exception:
            self.close()
            raise

    def _devtools_port(self, port_file: Path, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Chromium exited with code {self._process.returncode}")
            if port_file.is_file() and port_file.read_text().strip():
                return int(port_file.read_text().split()[0])
            time.sleep(0.2)
        raise TimeoutError(f"Chromium wrote no {port_file.name} within {timeout} s")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; returns its result (events in between are skipped)."""
        self._next_id += 1
        self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=120))
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised {result['exceptionDetails']}")
        return result["result"].get("value")

    def run_before_each_page(self, script: str) -> None:
        self.call("Page.addScriptToEvaluateOnNewDocument", source=script)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", timeout=60)

    def wait_for(self, expression: str, timeout: float = 120, interval: float = 0.5) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} still false after {timeout} s")
            time.sleep(interval)

    def wait_until_still(self, expression: str, timeout: float = 30, interval: float = 0.5) -> Any:
        """Poll a JavaScript expression until two polls in a row give the same value (e.g. the
        positions of drawn elements once an animation has ended); return it."""
        deadline = time.monotonic() + timeout
        previous = self.evaluate(expression)
        while True:
            time.sleep(interval)
            value = self.evaluate(expression)
            if value == previous:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} still changing after {timeout} s")
            previous = value

    def screenshot(self, path: Path) -> bytes:
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png

    def close(self) -> None:
        self._closing.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self) -> HeadlessChromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
