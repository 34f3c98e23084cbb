"""End to end in a real headless Chromium (Debian's, at /usr/bin/chromium, driven by Playwright):
log in, search a device by serial number, open its page, record an override and a triage
decision, find both in the audit log; alerts, recalls, vulnerabilities, feeds and risk pages; screenshots of the main pages go to ``var/test-artifacts/screenshots``.

The server is the real one (``uvicorn wardwatch.web.asgi:app``) on a free loopback port, on a
copy of the demo database. Skips with the reason when Chromium or Playwright is missing
(``bash tools/install_browser.sh`` installs Chromium; never ``playwright install``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.api.fulldemo import build_full_demo

from wardwatch.auth.service import AuthService
from wardwatch.store.sql import open_store

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).parents[3]
SCREENSHOTS = ROOT / "var" / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "e2e password 2026"
SERIAL = "DE98296572"

if not CHROMIUM.exists():
    pytest.skip(
        "no /usr/bin/chromium: run `bash tools/install_browser.sh` (as root)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web server on the full demo data with an admin user, on 127.0.0.1:<free port>."""
    db = tmp_path_factory.mktemp("e2e") / "e2e.sqlite"
    # The full demo (capture, CMMS, recalls, feeds, risk), so every page has something to show.
    build_full_demo(db)
    store = open_store(f"sqlite:///{db}")
    AuthService(store).add_user(name="admin", password=PASSWORD, role="admin", actor="test")
    store.close()
    port = _free_port()
    env = {**os.environ, "WARDWATCH_DB": f"sqlite:///{db}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "wardwatch.web.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"server did not start: {process.stderr.read().decode() if process.stderr else ''}"
                )
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, with nothing phoning home."""
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def _shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_analyst_journey(server: str, browser: object) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(f"{page.url}: {m.text} {m.location}") if m.type == "error" else None,
    )
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    page.goto(f"{server}/inventory")
    assert page.url.startswith(f"{server}/login")  # not logged in: sent to the login page
    _shot(page, "01-login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/inventory")

    # Search by serial number: HTMX swaps the table in place.
    page.fill("#search", SERIAL)
    page.press("#search", "Enter")
    page.wait_for_function(
        "() => document.querySelectorAll('#devices tbody tr').length === 1", timeout=10_000
    )
    assert SERIAL in page.inner_text("#devices")
    _shot(page, "03-inventory-search")

    page.click("#devices tbody tr a")
    page.wait_for_url(f"{server}/devices/*")
    assert SERIAL in page.inner_text("main")
    assert "Network peers" in page.inner_text("main")
    _shot(page, "04-device")

    # Record an override from the device page.
    page.select_option("#o-attribute", "location")
    page.fill("#o-value", "ICU bed 7")
    page.fill("#o-reason", "seen at the bedside on the round")
    page.click("#override-form button[type=submit]")
    page.wait_for_load_state()
    assert "ICU bed 7" in page.inner_text("#overrides")

    # Record a triage decision on one of its vulnerability findings.
    page.select_option("#t-state", "in_triage")
    page.fill("#t-detail", "vendor contacted")
    vulnerability = page.input_value("#t-vuln")
    page.click("#triage-form button[type=submit]")
    page.wait_for_load_state()
    assert "in_triage" in page.inner_text("#findings")

    # ...and find both in the audit log with who did them.
    page.click("nav >> text=Audit log")
    page.wait_for_url(f"{server}/admin/audit")
    row = page.locator("#audit tbody tr", has_text="override.set")
    assert row.count() == 1
    assert "admin" in row.inner_text() and "ICU bed 7" in row.inner_text()
    triaged = page.locator("#audit tbody tr", has_text="triage.set")
    assert triaged.count() == 1 and vulnerability in triaged.inner_text()
    _shot(page, "05-audit")

    page.click("nav >> text=Dashboard")
    page.wait_for_selector("#chart-type")
    _shot(page, "02-dashboard")
    page.click("nav >> text=Network")
    page.wait_for_selector("#network[data-ready=true]", timeout=20_000)
    assert "72 devices" in page.inner_text("#network-status")
    _shot(page, "06-network")
    page.click("nav >> text=Captures")
    assert "hospital-demo.pcap.gz" in page.inner_text("main")
    _shot(page, "07-captures")
    page.click("nav >> text=Users")
    _shot(page, "08-users")

    # Keyboard: the skip link is the first stop and leads to the content.
    page.goto(f"{server}/inventory")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"

    # A tablet-sized viewport still shows the inventory without horizontal page scroll.
    tablet = browser.new_context(
        viewport={"width": 820, "height": 1180}, storage_state=context.storage_state()
    )  # type: ignore[attr-defined]
    tpage = tablet.new_page()
    tpage.goto(f"{server}/inventory")
    assert tpage.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    _shot(tpage, "09-inventory-tablet")
    tablet.close()
    context.close()

    assert not errors, errors  # no script errors, no CSP violations
    assert all(u.startswith(server) for u in requests), [u for u in requests if not u.startswith(server)]


def test_subsystem_pages(server: str, browser: object) -> None:
    """Alerts (acknowledged from the page, then found in the audit log), recalls, vulnerabilities,
    one CVE, feeds, a device's risk section, and the network map coloured by risk."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(f"{page.url}: {m.text} {m.location}") if m.type == "error" else None,
    )
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{server}/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")
    page.wait_for_selector("#chart-risk")
    assert "Risk distribution" in page.inner_text("main")
    _shot(page, "10-dashboard-risk")

    page.click("nav >> text=Alerts")
    page.wait_for_url(f"{server}/alerts")
    first = page.locator("#alerts tbody tr").first
    alert_id = (first.get_attribute("id") or "").removeprefix("alert-")
    assert alert_id.isdigit()
    _shot(page, "11-alerts")
    with page.expect_navigation():
        first.locator("button", has_text="Acknowledge").click()
    assert page.url.startswith(f"{server}/alerts?state=open")
    assert page.locator(f"#alert-{alert_id}").count() == 0  # gone from the open list
    page.goto(f"{server}/alerts?state=acknowledged")
    assert page.locator(f"#alert-{alert_id}").count() == 1
    page.goto(f"{server}/admin/audit")
    assert page.locator("#audit tbody tr", has_text="alert.ack").count() == 1

    page.click("nav >> text=Recalls")
    assert "affected" in page.inner_text("main")
    _shot(page, "12-recalls")
    page.click("nav >> text=Vulnerabilities")
    assert "CVE-2019-0708" in page.inner_text("#vulnerabilities")
    _shot(page, "13-vulnerabilities")
    page.click("#vulnerabilities >> text=CVE-2019-0708")
    page.wait_for_url(f"{server}/vulnerabilities/CVE-2019-0708")
    assert "known exploited" in page.inner_text("main")
    _shot(page, "14-vulnerability")
    page.click("#h-affected + div a >> nth=0")
    page.wait_for_url(f"{server}/devices/*")
    assert "Mitigations, ranked" in page.inner_text("#risk")
    _shot(page, "15-device-risk")
    page.click("nav >> text=Feeds")
    assert "kev.json" in page.inner_text("main")
    _shot(page, "16-feeds")
    page.click("nav >> text=Network")
    page.wait_for_selector("#network[data-ready=true][data-colour=risk]", timeout=20_000)
    assert "high" in page.inner_text("#network-legend")
    _shot(page, "17-network-risk")
    context.close()
    assert not errors, errors
    assert all(u.startswith(server) for u in requests), [u for u in requests if not u.startswith(server)]
