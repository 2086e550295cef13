"""serve: the dashboard in headless Chromium through textual-serve; a key in the browser switches a mode; loopback bind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tui.core.errors import UsageError
from tui.serve import check_bindable, served_argv

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
CONFIG = """
defaults:
  pattern: seed
  size: 16MiB
  count: 1
  interval: 500ms
  hold: 60s
workloads:
  - name: svc
    madvise: MADV_FREE
"""
# textual.js keeps its xterm.js Terminal private and draws on a canvas: record the bytes the page's
# websocket receives (what the terminal draws) so the test can read the screen as text.
SCREEN_HOOK = """
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__screenText = "";
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") window.__screenText += decoder.decode(new Uint8Array(e.data), {stream: true});
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""
_ESCAPES = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


def test_served_argv():
    assert served_argv([])[1:] == ["-m", "tui"]
    assert served_argv(["--", "replay", "DIR"])[3:] == ["replay", "DIR"]
    assert served_argv(["replay", "DIR"], config="c.yaml")[3:] == ["--config", os.path.abspath("c.yaml"), "replay", "DIR"]
    assert served_argv(["--config", "x.yaml", "attach", "1"])[3:] == ["--config", "x.yaml", "attach", "1"]
    with pytest.raises(UsageError, match="not serve"):
        served_argv(["serve"])
    with pytest.raises(UsageError, match="expected one of run, replay, attach"):
        served_argv(["record", "--out", "x"])


def test_taken_port_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=rf"^serve: cannot listen on 127.0.0.1:{port}: Address already in use$"):
            check_bindable("127.0.0.1", port)
        result = subprocess.run([sys.executable, "-m", "tui", "serve", "--port", str(port)], cwd=REPO,
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr, result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_addresses(pid: int, port: int) -> list[str]:
    import psutil

    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    found = []
    for proc in procs:
        try:
            found += [c.laddr.ip for c in proc.net_connections(kind="tcp")
                      if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
        except psutil.Error:
            pass
    return found


def _screen(page) -> str:
    return _ESCAPES.sub("", page.evaluate("window.__screenText"))


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_browser_shows_the_dashboard_and_a_key_switches_the_mode(tmp_path):
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        pytest.skip("textual-serve is not installed (pip install textual-serve; it is a dependency in pyproject)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the `playwright` Python package is not installed (pip install playwright; .ci/run must install it)")
    if CHROMIUM is None:
        pytest.skip("no chromium executable on PATH (apt-get install -y chromium; .ci/run must install it)")
    config = tmp_path / "serve.yaml"
    config.write_text(CONFIG)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tui", "--config", str(config), "serve", "--port", str(port)],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(lambda: _listening_addresses(server.pid, port), 20, "the server to listen")
        assert set(_listening_addresses(server.pid, port)) == {"127.0.0.1"}, "loopback only unless told otherwise"
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
            # Playwright passes --user-data-dir itself for a persistent context (a fresh temporary profile).
            browser = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1400, "height": 900})
            try:
                page = browser.new_page()
                page.add_init_script(SCREEN_HOOK)
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_function("document.body.classList.contains('-first-byte')", timeout=20_000)
                _wait_for(lambda: "madvise MADV_FREE" in _screen(page) and "RSS" in _screen(page), 20,
                          "the dashboard's panel on the page")
                assert "MADV_DONTNEED" not in _screen(page)
                page.locator(".xterm-screen").click()
                page.keyboard.press("m")
                # the panel shows the new mode, and the trace pane the workload's own mode line
                _wait_for(lambda: "madvise MADV_DONTNEED" in _screen(page)
                          and "MADV_FREE -> MADV_DONTNEED" in _screen(page), 10, "the mode switch on the page")
            finally:
                browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
