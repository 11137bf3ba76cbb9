"""The dashboard in a real Chromium against the real server (uvicorn on loopback), on a seeded database:
signed out every page sends you to sign in; signed in, each page draws its charts with the seeded numbers,
asks nothing of any other host, logs no console error and fits a phone and a desktop."""

from __future__ import annotations

import httpx
import pytest

from tests.review.helpers import NO_CHROMIUM
from tests.tracking.dashboard_seed import EXPECTED, seed_dashboard

expect = pytest.importorskip("playwright.sync_api", reason=NO_CHROMIUM).expect

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]  # about the pages; the figures run on both databases

TOKEN = "dashboard-test-token-0123456789"
WIDTHS = (375, 1280)


@pytest.fixture
def site(settings, serve):
    """The seeded database served with the dashboard on: ``(base URL, ids)``."""
    config = settings.with_overrides(newsletter_admin_token=TOKEN, newsletter_admin_signin_limit=3)
    ids = seed_dashboard(config.newsletter_database)
    return serve(config), ids


class Watched:
    """A browser context whose requests to other hosts are refused and recorded, with console errors kept."""

    def __init__(self, browser, base: str, width: int) -> None:
        self.base, self.foreign, self.errors = base, [], []
        self.context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme="light")
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _route(self, route) -> None:
        if route.request.url == self.base or route.request.url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def sign_in(self) -> None:
        self.page.goto(f"{self.base}/admin")
        expect(self.page.get_by_role("heading", name="Sign in")).to_be_visible()
        self.page.get_by_label("Password or admin token").fill(TOKEN)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("heading", name="Sends")).to_be_visible()


def chart_values(page, chart: str, series: str | None = None) -> dict[str, int]:
    """``{data-label: data-value}`` of one chart's marks (of one series)."""
    selector = f'svg[data-chart="{chart}"] [data-value]' + (f'[data-series="{series}"]' if series else "")
    marks = page.eval_on_selector_all(selector, "els => els.map(e => [e.dataset.label, Number(e.dataset.value)])")
    return dict(marks)


def table_rows(page, heading: str) -> list[list[str]]:
    section = page.locator("section", has=page.get_by_role("heading", name=heading))
    return section.locator("tbody tr").evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")


def test_signed_out_every_page_sends_you_to_sign_in(site):
    base, ids = site
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        for path in ("/admin", f"/admin/sends/{ids['done']}", f"/admin/sends/{ids['live']}", "/admin/sends/999",
                     "/admin/lists"):
            answer = client.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/signin?next="), path
        forged = client.get("/admin", cookies={"newsletter_admin": "WyJhZG1pbiIsOTk5OTk5OTk5OV0.AAAA"})
        assert forged.status_code == 303
        assert client.get("/healthz").status_code == 200  # every other route stays public
        wrong = [client.post("/admin/signin", data={"password": f"wrong-{i}"}) for i in range(3)]
        assert [w.status_code for w in wrong] == [401, 401, 401] and "Wrong name or password" in wrong[0].text
        limited = client.post("/admin/signin", data={"password": TOKEN})  # limited, even with the right token
        assert limited.status_code == 429


def test_sends_page_lists_ledger_status_live(browser, site, tmp_path):
    base, ids = site
    watched = Watched(browser, base, 1280)
    watched.sign_in()
    [cookie] = watched.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin"
    rows = {r[0]: r for r in table_rows_all(watched.page)}
    assert rows["2026-12-harbour"][1:8] == ["news", "sending", "10", "4", "0", "0", "6"]
    assert rows["2026-11-harbour"][1:8] == ["news", "partial", "10", "9", "1", "0", "0"]
    assert watched.page.locator('meta[http-equiv="refresh"]').count() == 1  # a send is running: the page reloads
    watched.page.screenshot(path=str(tmp_path / "sends-1280.png"), full_page=True)
    assert not watched.foreign and not watched.errors
    watched.context.close()


def table_rows_all(page) -> list[list[str]]:
    return page.locator("tbody tr").evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")


@pytest.mark.parametrize("width", WIDTHS)
def test_send_page_draws_the_seeded_numbers(browser, site, tmp_path, width):
    base, ids = site
    watched = Watched(browser, base, width)
    watched.sign_in()
    page = watched.page
    page.goto(f"{base}/admin/sends/{ids['done']}")
    expect(page.get_by_role("heading", name="2026-11-harbour to news")).to_be_visible()
    assert chart_values(page, "funnel") == EXPECTED["funnel"]
    hours = {series: chart_values(page, chart, series) for chart, series in (
        ("hours", "Human opens"), ("hours", "Human clicks"),
        ("machine-hours", "Machine opens"), ("machine-hours", "Machine clicks"))}
    assert all(len(values) == 72 for values in hours.values())
    for hour in range(72):
        seen = tuple(hours[s][f"{hour}h"] for s in ("Human opens", "Human clicks", "Machine opens", "Machine clicks"))
        assert seen == EXPECTED["hours"].get(hour, (0, 0, 0, 0)), hour
    domains = {r[0]: tuple(int(c) for c in r[1:]) for r in table_rows(page, "Bounces and complaints by receiving domain")}
    assert domains == EXPECTED["domains"]
    providers = table_rows(page, "Results by mailbox provider")
    assert {r[0]: int(r[1]) for r in providers} == EXPECTED["providers"]
    assert {r[0]: int(r[5]) for r in providers if int(r[5])} == EXPECTED["provider_opens"]
    links = table_rows(page, "Top links")
    assert [r[0] for r in links] == ["https://example.org/a", "https://example.org/b"]
    expect(page.locator('[data-card="In doubt"] b')).to_have_text("1")
    expect(page.get_by_text("Harbour <news>", exact=False)).to_be_visible()  # escaped, shown as text
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    page.screenshot(path=str(tmp_path / f"send-{width}.png"), full_page=True)
    assert not watched.foreign and not watched.errors, (watched.foreign, watched.errors)
    watched.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_lists_and_sends_pages_fit_and_draw(browser, site, tmp_path, width):
    base, ids = site
    watched = Watched(browser, base, width)
    watched.sign_in()
    page = watched.page
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(tmp_path / f"sends-{width}.png"), full_page=True)
    page.get_by_role("link", name="Lists").click()
    expect(page.get_by_role("heading", name="Harbour News")).to_be_visible()
    members = list(chart_values(page, "members-news").values())
    assert len(members) == 26 and members[-1] == EXPECTED["members_now"]
    assert members[-2] == 10 and max(members) == 10  # before this week's three leaves
    joined = chart_values(page, "moves-news", "Joined")
    left = chart_values(page, "moves-news", "Left")
    assert sum(joined.values()) == 10 and sum(left.values()) == 3
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(tmp_path / f"lists-{width}.png"), full_page=True)
    page.goto(f"{base}/admin/sends/{ids['live']}")
    expect(page.locator('[data-card="Recipients"] b')).to_have_text("10")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{base}/admin/lists")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # signed out for real
    assert not watched.foreign and not watched.errors, (watched.foreign, watched.errors)
    watched.context.close()


def test_the_html_report_file_renders_offline(browser, settings, tmp_path):
    from newsletter.server.dashboard_file import write_report

    seed_dashboard(settings.newsletter_database)
    out = tmp_path / "report.html"
    assert write_report(settings, "2026-11-harbour", out) == 1
    for width in WIDTHS:
        watched = Watched(browser, out.as_uri(), width)  # only the file itself may load
        watched.page.goto(out.as_uri())
        assert chart_values(watched.page, "funnel") == EXPECTED["funnel"]
        assert watched.page.evaluate("document.documentElement.scrollWidth") <= width
        watched.page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
        assert not watched.foreign and not watched.errors, (watched.foreign, watched.errors)
        watched.context.close()
