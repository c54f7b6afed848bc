"""The admin dashboard in a real browser: Debian's Chromium, driven by Playwright, against the local stack.

Given a shop with known duplicates, an operator opens /admin, enters the admin token, sees the health
score the API reports, previews a dedupe (the page says how many rows would go; it marks as
duplicates only rows dedupe removes whatever the catalog says), applies it, and sees the counts
change. A wrong token shows the API's error. The page runs under its Content-Security-Policy
without a single violation.

Needs /usr/bin/chromium (`make browser-deps`) and the playwright package (requirements-dev.txt);
Playwright's own browser download is never used. Without them the tests skip, and fail under CI=true.
A screenshot of the dashboard is saved as artifacts/dashboard.png.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from roamsync.container import get_container
from roamsync_dev.local_stack import LocalStack
from tests.fakes.my_packages import GB, catalog_package, shop_row

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
WAIT_MS = 20_000

MY = "/api/admin/my-packages"
HEALTH = "/api/admin/packages/health"
DEDUPE = "/api/admin/packages/deduplicate-my-packages"


# ---- the browser ---------------------------------------------------------------------------------


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make install)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (make browser-deps installs Debian's chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    problem = _missing_browser()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


class Console:
    """What the page reported: uncaught errors and console errors (CSP violations are logged there)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    context = browser.new_context(viewport=LAPTOP)
    try:
        yield context.new_page()
    finally:
        context.close()


# ---- the shop ------------------------------------------------------------------------------------


class AdminApi:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(
            method,
            f"{self.stack.gateway_url}{path}",
            headers={"Authorization": f"Bearer {self.stack.admin_token}"},
            json=body,
            timeout=30,
        )
        assert response.ok, (method, path, response.status_code, response.text)
        return response.json()


SEEDED_ROWS = 10


def seed_shop(api: AdminApi) -> None:
    """SEEDED_ROWS rows through the admin API: five valid ones, three making the same offer (two
    duplicates), one mapped to a package gone upstream (with a better one in the catalog), one draft."""
    container = get_container()
    for row in list(container.my_packages.all()):
        container.my_packages.delete(row.id, expected_updated_at=row.updated_at)
    # The catalog has no write API (the sync owns it): these packages are put in the table directly.
    same_offer = [catalog_package(f"e2e-iceland-{n}", country="IS", region="Europe") for n in "abc"]
    gone = catalog_package("e2e-sweden-old", country="SE", status="inactive", price="10.00")
    better = catalog_package("e2e-sweden-new", country="SE", data_mb=20 * GB, days=30, price="9.00")
    container.packages.write([*same_offer, gone, better])

    picked: dict[str, Any] = {}
    for package in sorted(container.packages.load_all().values(), key=lambda p: p.reseller_id):
        local = package.geography == "local" and package.status == "active"
        if local and not package.reseller_id.startswith("e2e-") and package.country_code not in picked:
            picked[package.country_code] = package
    assert len(picked) >= 5, "the simulator catalog should have five countries with a local package"
    for package in list(picked.values())[:5]:
        sale = (package.price * Decimal("1.5")).quantize(Decimal("0.01"))
        api.call("POST", MY, {"resellerId": package.reseller_id, "salePrice": str(sale)})
    for n, package in enumerate(same_offer, start=1):
        api.call(
            "POST",
            MY,
            {"resellerId": package.reseller_id, "salePrice": "12.00", "name": f"Iceland 5 GB #{n}"},
        )
    api.call("POST", MY, {"resellerId": gone.reseller_id, "salePrice": "15.00", "name": "Sweden 5 GB"})
    api.call(
        "POST",
        MY,
        {"draft": True, "resellerId": "e2e-japan-soon", "name": "Japan 10 GB (coming)", "countryCode": "JP"},
    )
    assert len(api.call("GET", f"{MY}?limit=100")["items"]) == SEEDED_ROWS


@pytest.fixture
def shop(local_stack: LocalStack) -> AdminApi:
    api = AdminApi(local_stack)
    seed_shop(api)
    return api


def sign_in(page: Page, stack: LocalStack, token: str) -> None:
    page.goto(f"{stack.gateway_url}/admin")
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("token-submit").click()


def score_text(health: dict[str, Any]) -> str:
    score = health["healthScore"]
    return "—" if score is None else f"{score:.1f}%"


# ---- behaviour -----------------------------------------------------------------------------------


def test_the_operator_sees_the_health_score_and_dedupes_with_a_preview_first(
    page: Page, local_stack: LocalStack, shop: AdminApi
) -> None:
    from playwright.sync_api import expect

    console = Console(page)
    health = shop.call("GET", HEALTH)
    expected = shop.call("POST", DEDUPE, {"dryRun": True})
    assert expected["removedCount"] == 2  # the seed's two extra Iceland rows

    # when the operator opens the page and gives the admin token
    sign_in(page, local_stack, local_stack.admin_token)

    # then the health score and counts are the API's, and the look-alike rows are shown as such:
    # only the catalog (coverage, SMS, calls, hotspot) can say they are the same offer
    expect(page.get_by_test_id("health-score")).to_have_text(score_text(health))
    expect(page.get_by_test_id("health-total")).to_have_text(str(health["totalPackages"]))
    expect(page.get_by_test_id("catalog-active")).to_have_text(f"{health['catalog']['active']:,}")
    expect(page.get_by_test_id("mypackages-count")).to_have_text(f"{SEEDED_ROWS} rows")
    expect(page.get_by_test_id("duplicates-count")).to_have_text("0 duplicates")
    expect(page.get_by_test_id("lookalikes-count")).to_have_text("2 look alike")
    expect(page.locator("tr[data-lookalike]")).to_have_count(2)
    expect(page.get_by_test_id("invalid-row")).to_have_count(health["invalidPackages"])
    expect(page.get_by_test_id("dedupe-apply")).to_be_disabled()

    # when they preview the dedupe
    page.get_by_test_id("dedupe-preview").click()

    # then the page says what would go, and nothing has gone
    expect(page.get_by_test_id("dedupe-result")).to_contain_text("would remove 2 rows")
    expect(page.get_by_test_id("dedupe-result")).to_have_attribute("data-removed-count", "2")
    expect(page.get_by_test_id("dedupe-apply")).to_be_enabled()
    assert len(shop.call("GET", f"{MY}?limit=100")["items"]) == SEEDED_ROWS
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # when they apply it
    page.get_by_test_id("dedupe-apply").click()

    # then the rows are gone, and every count on the page follows
    expect(page.get_by_test_id("dedupe-result")).to_contain_text("removed 2 rows")
    expect(page.get_by_test_id("health-total")).to_have_text(str(health["totalPackages"] - 2))
    expect(page.get_by_test_id("mypackages-count")).to_have_text(f"{SEEDED_ROWS - 2} rows")
    expect(page.get_by_test_id("lookalikes-count")).to_be_hidden()
    expect(page.locator("tr[data-lookalike]")).to_have_count(0)
    expect(page.get_by_test_id("dedupe-apply")).to_be_disabled()
    after = shop.call("GET", HEALTH)
    assert after["totalPackages"] == health["totalPackages"] - 2
    expect(page.get_by_test_id("health-score")).to_have_text(score_text(after))
    # and the run is listed, ready to be undone
    expect(page.get_by_test_id("activity")).to_contain_text("dedupe: 2 removed")
    page.screenshot(path=str(ARTIFACTS / "dashboard-after-dedupe.png"), full_page=True)
    assert console.csp_violations() == []
    assert [e for e in console.errors if e.startswith("uncaught")] == []


EUROPE = ("AT", "DE", "DK", "ES", "FI", "FR", "IT", "NL", "NO", "SE")


def test_the_page_marks_as_duplicates_only_the_rows_dedupe_removes(
    page: Page, local_stack: LocalStack, shop: AdminApi
) -> None:
    from playwright.sync_api import expect

    # given a one-country plan and a regional plan sold for that country, equal in data, days and
    # price, and an old copy of the one-country row (the same Roamify package mapped twice)
    container = get_container()
    for row in list(container.my_packages.all()):
        container.my_packages.delete(row.id, expected_updated_at=row.updated_at)
    sweden = catalog_package("e2e-sweden-5gb", country="SE", region="Europe")
    europe = catalog_package("e2e-europe-5gb", country="SE", region="Europe", coverage=EUROPE)
    container.packages.write([sweden, europe])
    for package in (sweden, europe):
        shop.call("POST", MY, {"resellerId": package.reseller_id, "salePrice": "12.00", "countryCode": "SE"})
    container.my_packages.save(shop_row("e2e-old-copy", sweden, sale_price="12.00", region=None))
    expected = shop.call("POST", DEDUPE, {"dryRun": True})
    assert (expected["removedCount"], expected["details"]) == (
        1,
        {"resellerIdDuplicates": 1, "combinationDuplicates": 0},
    )

    # when the operator opens the page
    sign_in(page, local_stack, local_stack.admin_token)

    # then the one row dedupe removes is marked, and the regional plan is not called a duplicate
    expect(page.get_by_test_id("mypackages-count")).to_have_text("3 rows")
    expect(page.get_by_test_id("duplicates-count")).to_have_text("1 duplicate")
    expect(page.locator("tr[data-duplicate]")).to_have_count(1)
    expect(page.locator("tr[data-duplicate][data-id=e2e-old-copy]")).to_have_count(1)
    expect(page.get_by_test_id("lookalikes-count")).to_have_text("1 looks alike")
    expect(page.locator("tr[data-lookalike]")).to_have_count(1)


def test_a_wrong_token_shows_the_api_error_and_asks_for_the_token_again(
    page: Page, local_stack: LocalStack
) -> None:
    from playwright.sync_api import expect

    sign_in(page, local_stack, "not-the-admin-token")

    errors = page.get_by_test_id("error")
    expect(errors.first).to_contain_text("HTTP 403 forbidden")
    expect(errors.first).to_contain_text("this token may not call this route")
    expect(page.get_by_test_id("login")).to_be_visible()
    expect(page.get_by_test_id("dashboard")).to_be_hidden()
    assert page.evaluate("window.sessionStorage.length") == 0
    page.screenshot(path=str(ARTIFACTS / "dashboard-wrong-token.png"))


def test_the_client_token_is_refused_too(page: Page, local_stack: LocalStack) -> None:
    from playwright.sync_api import expect

    sign_in(page, local_stack, local_stack.client_token)

    expect(page.get_by_test_id("error").first).to_contain_text("HTTP 403")
    expect(page.get_by_test_id("login")).to_be_visible()


def test_the_token_is_asked_once_per_browser_session(page: Page, local_stack: LocalStack) -> None:
    from playwright.sync_api import expect

    sign_in(page, local_stack, local_stack.admin_token)
    expect(page.get_by_test_id("dashboard")).to_be_visible()

    page.reload()

    expect(page.get_by_test_id("dashboard")).to_be_visible()
    expect(page.get_by_test_id("login")).to_be_hidden()
    expect(page.get_by_test_id("health-total")).to_have_text(re.compile(r"^\d+$"))
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("login")).to_be_visible()
    assert page.evaluate("window.sessionStorage.length") == 0


def test_a_dedupe_run_is_undone_from_the_page(page: Page, local_stack: LocalStack, shop: AdminApi) -> None:
    from playwright.sync_api import expect

    # given a dedupe that removed two rows
    run_id = shop.call("POST", DEDUPE, {"dryRun": False})["runId"]
    sign_in(page, local_stack, local_stack.admin_token)
    expect(page.get_by_test_id("mypackages-count")).to_have_text(f"{SEEDED_ROWS - 2} rows")

    # when the operator undoes that run
    page.get_by_test_id("undo-run-id").fill(run_id)
    page.get_by_test_id("undo-submit").click()

    # then the rows are back, on the page and in the table
    expect(page.get_by_test_id("undo-result")).to_have_text("restored 2 rows")
    expect(page.get_by_test_id("mypackages-count")).to_have_text(f"{SEEDED_ROWS} rows")
    expect(page.get_by_test_id("lookalikes-count")).to_have_text("2 look alike")
    assert len(shop.call("GET", f"{MY}?limit=100")["items"]) == SEEDED_ROWS


def test_an_unknown_run_id_shows_the_api_error(page: Page, local_stack: LocalStack) -> None:
    from playwright.sync_api import expect

    sign_in(page, local_stack, local_stack.admin_token)
    page.get_by_test_id("undo-run-id").fill("no-such-run")
    page.get_by_test_id("undo-submit").click()

    expect(page.get_by_test_id("undo-result")).to_contain_text("HTTP 404 not_found: no run 'no-such-run'")
    expect(page.get_by_test_id("error").first).to_contain_text("HTTP 404")
    expect(page.get_by_test_id("dashboard")).to_be_visible()  # not a token problem: still signed in


def test_a_sync_is_previewed_then_applied_and_followed_to_its_end(
    page: Page, local_stack: LocalStack
) -> None:
    from playwright.sync_api import expect

    # One price moved upstream since the stack's own sync: the preview must show that one update
    # (a dry run writes nothing, so it is what the run planned, not what it wrote).
    repriced = sorted(local_stack.simulator.package_ids())[0]
    local_stack.simulator.change_prices([repriced], delta=1.0)
    sign_in(page, local_stack, local_stack.admin_token)
    expect(page.get_by_test_id("sync-apply")).to_be_disabled()

    page.get_by_test_id("sync-preview").click()
    expect(page.get_by_test_id("sync-result")).to_contain_text("plan: fetched 120, insert 0, update 1,")
    page.get_by_test_id("sync-apply").click()

    expect(page.get_by_test_id("sync-result")).to_contain_text("sync succeeded: inserted 0, updated 1,")
    run_id = (
        page.get_by_test_id("activity").locator("li", has_text="sync started").locator("code").inner_text()
    )
    expect(page.get_by_test_id("run-sync")).to_contain_text(run_id)
