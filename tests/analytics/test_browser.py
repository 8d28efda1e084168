"""The KPI pages in a real browser: Playwright driving Debian's Chromium.

Logs in, opens the dashboard, every KPI family page and the data model on a seeded
database, and checks that every chart drew (a canvas with a size and a Chart.js
chart on it; heatmaps and tables filled), that no card reports an error and that the
console stayed clean, in the light and the dark theme. Screenshots go to the test's
temporary directory (printed with `-s`).

Skipped when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (CI), which
makes a missing browser a failure. No browser is ever downloaded.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command, get_commands
from django.core.servers.basehttp import WSGIServer
from django.test import override_settings
from django.test.testcases import LiveServerThread
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from analytics.kpis.registry import FAMILIES
from billing.models import Listener, PaymentStatus
from tests.factories import (
    at,
    make_event,
    make_listener,
    make_payment,
    make_plan,
    make_subscription,
    make_track,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-pw-123"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Every card drew: a Chart.js chart on a canvas with a size, or a filled table.
CARDS_DRAWN = """
() => Array.from(document.querySelectorAll(".kpi-card")).map((card) => {
    const canvas = card.querySelector("canvas.kpi-chart");
    const chart = canvas ? Chart.getChart(canvas) : undefined;
    const status = card.querySelector(".kpi-status");
    return {
        slug: card.dataset.kpi,
        kind: card.dataset.kind,
        loaded: card.dataset.loaded === "true",
        error: status.classList.contains("kpi-error") ? status.textContent : "",
        canvas: canvas ? [canvas.clientWidth, canvas.clientHeight] : null,
        chart: chart ? chart.config.type : null,
        tickColour: chart && chart.options.scales.x ? chart.options.scales.x.ticks.color : null,
        headers: card.querySelectorAll("table.kpi-table thead th").length,
        heat: card.querySelectorAll("td.kpi-heat, td.kpi-heat-empty").length,
    };
})
"""


class _OneRequestAtATime(WSGIServer):
    """The live server without request threads. On SQLite the test database lives in
    memory on one connection that the threads would share while the page fetches its
    charts in parallel; on PostgreSQL a request thread still holding its connection
    when the server stops keeps the test database from being dropped."""

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)


@pytest.fixture(scope="module")
def live_server(request):
    """pytest-django's live server, started over plain HTTP.

    Tests run with DEBUG off, which turns SECURE_SSL_REDIRECT on; Django's
    SecurityMiddleware reads it once, when the server starts, so the session-wide
    server cannot be switched to HTTP afterwards. This module starts its own.
    """
    address = (
        request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    )
    with override_settings(SECURE_SSL_REDIRECT=False), pytest.MonkeyPatch.context() as patch:
        patch.setattr(LiveServerThread, "server_class", _OneRequestAtATime)
        server = LiveServer(address)
    yield server
    server.stop()


@pytest.fixture
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing: install Debian's chromium package.")
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium package to run the browser tests).")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_settings(settings, plain_static):
    # Plain HTTP on the live server: cookies without the Secure flag.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


def _seed() -> str:
    """A small seeded database with fresh rollups; a hand-built one if `seed` is missing."""
    commands = get_commands()
    if "seed" in commands:
        # The seed refreshes the rollups itself.
        call_command("seed", "--listeners", "120", "--events", "4000", "--months", "4", "--quiet")
        source = "seed command"
    else:
        _hand_built()
        source = "hand-built data"
        call_command("refresh_rollups", "--full", verbosity=0)
    return source


def _hand_built() -> None:
    today = timezone.localdate()
    plan = make_plan("premium", price="10.99")
    track = make_track("Browser song")
    for n in range(12):
        day = today - timedelta(days=3 * n + 1)
        listener = make_listener(
            country=("SE", "US", "BR", "DE")[n % 4], signed_up_at=at(day.year, day.month, 1)
        )
        subscription = make_subscription(listener, plan, started_at=at(day.year, day.month, day.day))
        make_payment(
            subscription, paid_at=at(day.year, day.month, day.day, 12), status=PaymentStatus.SUCCEEDED
        )
        make_event(listener, played_at=at(day.year, day.month, day.day, 20), track=track)


def _log_in(page, base: str) -> None:
    page.goto(f"{base}/admin/")  # redirects to the login form, then back here
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def _cards_drawn(page, path: str, errors: list[str]) -> list[dict]:
    page.wait_for_selector("body[data-kpis-loaded=true]", timeout=120_000)
    cards = page.evaluate(CARDS_DRAWN)
    for card in cards:
        where = f"{path} {card['slug']}"
        assert card["loaded"] and not card["error"], f"{where}: {card['error'] or 'not loaded'}"
        assert card["headers"] > 0, f"{where}: empty data table"
        if card["kind"] == "heatmap":
            assert card["heat"] > 0 or card["headers"] > 0, f"{where}: heatmap not drawn"
        elif card["kind"] != "table":
            assert card["chart"], f"{where}: no Chart.js chart on the canvas"
            width, height = card["canvas"]
            assert width > 0 and height > 0, f"{where}: canvas has no size"
    assert errors == [], f"{path}: console errors {errors}"
    return cards


@pytest.fixture
def seeded_site(browser_settings, django_user_model) -> str:
    """The data and the login, made before Playwright starts: its event loop must not
    run while the ORM opens connections in this thread."""
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    source = _seed()
    return {"source": source, "listener": Listener.objects.order_by("pk").values_list("pk", flat=True)[0]}


def test_browser_kpi_pages_draw_every_chart_in_light_and_dark(live_server, seeded_site, chromium, tmp_path):
    source = seeded_site["source"]
    base = live_server.url
    page = chromium.new_page(viewport={"width": 1440, "height": 1000})
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} ({message.location.get('url')})")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))

    _log_in(page, base)

    # Dashboard: six cards, sparklines drawn where a KPI exists.
    page.wait_for_load_state("networkidle")
    tiles = page.locator(".kpi-tile").count()
    assert tiles == 6
    sparklines = page.evaluate(
        "() => Array.from(document.querySelectorAll('canvas.kpi-sparkline'))"
        ".map((c) => [Boolean(Chart.getChart(c)), c.clientWidth, c.clientHeight])"
    )
    assert all(drawn and width > 0 and height > 0 for drawn, width, height in sparklines), sparklines
    page.screenshot(path=tmp_path / "dashboard-light.png", full_page=True)
    assert errors == [], f"dashboard: console errors {errors}"

    drawn = {}
    for family in FAMILIES:
        path = f"/admin/kpis/{family}/"
        response = page.goto(base + path)
        assert "script-src 'self' 'unsafe-eval'" in response.headers["content-security-policy"]
        drawn[family] = _cards_drawn(page, path, errors)
        page.screenshot(path=tmp_path / f"{family}-light.png", full_page=True)

    # Dark mode once (unfold's Ctrl+E): charts take the dark theme's colours.
    page.goto(base + "/admin/kpis/revenue/?compare=1")
    _cards_drawn(page, "revenue compare", errors)
    # Ctrl+E switches light <-> dark; from the initial "auto" the first press means light.
    page.keyboard.press("Control+e")
    if not page.evaluate("() => document.documentElement.classList.contains('dark')"):
        page.keyboard.press("Control+e")
    page.wait_for_function("() => document.documentElement.classList.contains('dark')", timeout=5_000)
    dark = page.evaluate(CARDS_DRAWN)
    for card in dark:
        if card["chart"] and card["tickColour"] is not None:
            assert card["tickColour"] == "#d1d5db", card
    page.screenshot(path=tmp_path / "revenue-dark.png", full_page=True)
    page.goto(base + "/admin/")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=tmp_path / "dashboard-dark.png", full_page=True)
    page.goto(base + "/admin/data-model/")
    assert page.locator("svg.erd g.erd-box").count() > 20
    page.screenshot(path=tmp_path / "data-model-dark.png")
    assert errors == [], f"console errors {errors}"

    # The rest of the admin and the API docs run under the same policy without a
    # violation (each would be a console error).
    for path, ready in (
        ("/admin/billing/listener/", "#result_list"),
        (f"/admin/billing/listener/{seeded_site['listener']}/change/", "#listener_form"),
        ("/admin/billing/subscription/add/", "#subscription_form"),
        ("/admin/catalog/track/import/", "input[name=import_file]"),
        ("/admin/catalog/track/?genre__id__exact=1", "#changelist-form"),
        ("/api/docs/", ".swagger-ui .info"),
    ):
        response = page.goto(base + path)
        assert response.status == 200, path
        assert "script-src 'self' 'unsafe-eval'" in response.headers["content-security-policy"], path
        page.wait_for_selector(ready, timeout=30_000)
        page.wait_for_load_state("networkidle")
        assert errors == [], f"{path}: console errors {errors}"

    charts = sum(1 for cards in drawn.values() for card in cards if card["chart"])
    print(f"\nBrowser test on {source}: {charts} charts on {len(FAMILIES)} family pages.")
    print(f"Screenshots: {tmp_path}")
