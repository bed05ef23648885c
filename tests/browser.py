"""Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`), with the stdlib only.

For browser tests that need more than one page load in one browser: open a URL, reload, read the DOM or a
layout value through JavaScript, read the cookie jar and the tab's history. Chromium reads commands on its fd 3
and writes answers on its fd 4, each a JSON object ended by a NUL byte.

    with Chromium(path, profile_dir) as browser:
        tab = browser.tab(width=1280, height=800)
        tab.open(url); tab.evaluate("document.title"); tab.reload(); browser.cookies()
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--remote-debugging-pipe")
TIMEOUT = 60.0


class Chromium:
    """One headless browser process; `close()` (or the `with` block) ends it."""

    def __init__(self, executable: Path, profile: Path) -> None:
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()

        def pipes_on_3_and_4() -> None:
            # move both ends above 10 first: a plain dup2 could overwrite one with the other
            inbound = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            outbound = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(inbound, 3)
            os.dup2(outbound, 4)

        self.process = subprocess.Popen(
            [str(executable), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=pipes_on_3_and_4, close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._out = os.fdopen(to_browser_w, "wb", buffering=0)
        self._in = from_browser_r
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer")
            ready, _, _ = select.select([self._in], [], [], left)
            if ready:
                chunk = os.read(self._in, 1 << 16)
                if not chunk:
                    raise EOFError("chromium closed its pipe")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        answer: dict[str, Any] = json.loads(message)
        return answer

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> Any:
        """Send one command and return its result (events that arrive meanwhile are kept for `wait`)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._out.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self._events.append(answer)

    def wait(self, method: str, *, session: str) -> dict[str, Any]:
        """Return the next event `method` of a tab, waiting for it."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self._events.pop(i)
            self._events.append(self._receive(deadline))

    def tab(self, *, width: int, height: int) -> Tab:
        """Open a tab with a viewport of `width` × `height` CSS pixels."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False}, session=session)
        return Tab(self, session)

    def cookies(self) -> list[dict[str, Any]]:
        """Every cookie the browser holds, with its flags (httpOnly, sameSite, secure, path)."""
        cookies: list[dict[str, Any]] = self.send("Storage.getCookies")["cookies"]
        return cookies

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._out.close()
        os.close(self._in)


class Tab:
    """One page of the browser."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    def _loaded(self, method: str, params: dict[str, Any] | None = None) -> None:
        self.browser._events = [e for e in self.browser._events if e.get("sessionId") != self.session]
        self.browser.send(method, params, session=self.session)
        self.browser.wait("Page.loadEventFired", session=self.session)

    def open(self, url: str) -> None:
        """Go to `url` as if typed in the address bar, and wait until the page (after redirects) has loaded."""
        self._loaded("Page.navigate", {"url": url, "transitionType": "typed"})

    def reload(self) -> None:
        self._loaded("Page.reload")

    def evaluate(self, expression: str) -> Any:
        """Return the value of a JavaScript expression in the page."""
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                   session=self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def history(self) -> list[str]:
        """The URLs of this tab's back/forward list."""
        entries = self.browser.send("Page.getNavigationHistory", session=self.session)["entries"]
        return [e["url"] for e in entries]
