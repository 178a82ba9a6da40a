"""The facilitator dashboard in a real headless browser (Debian's chromium via Playwright):
the grid appears, a learner's new pass shows up without a reload, the CSV download matches the API.

Locally these skip when /usr/bin/chromium (or Playwright) is missing; with CI set they fail instead.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from labkit import catalog
from labkit.cohort import protocol
from labkit.cohort.harness import Server, bearer, check_payload, http, make_cohort, submit
from labkit.cohort.store import CohortStore

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAB = "sns-fanout"


def _unavailable() -> str | None:
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        return "Debian's chromium is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        executable = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
        browser = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("cohort-browser")
    store, token = make_cohort(home, learners=["Ada Lovelace", "Alan Turing", "Grace <b>Hopper</b>"])
    with Server(home, engine=None) as server:
        yield server, CohortStore(store.folder), token


@pytest.fixture
def page(browser, served, tmp_path):
    server, _, token = served
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(server.url + "/_cohort/")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=grid]")
    yield page
    context.close()


def test_the_grid_appears_with_every_learner_and_task(page, served):
    _, store, _ = served
    rows = page.locator("[data-testid=grid] tbody tr")
    assert rows.count() == 3
    assert page.locator(f"td[data-task^='{LAB}:']").count() == 3 * len(catalog.get(LAB).spec.tasks)
    assert "Grace <b>Hopper</b>" in page.locator("tbody th").nth(2).inner_text()  # shown as text, never as markup
    assert page.locator("tbody th b").count() == 0


def test_a_new_pass_shows_up_without_a_reload(page, served):
    from playwright.sync_api import expect

    server, store, _ = served
    alan = store.find_learner("learner-02")
    cell = page.locator(f"td[data-learner='learner-02'][data-task='{LAB}:create-topic']")
    assert cell.get_attribute("data-status") == "none"
    page.evaluate("window.__no_reload_marker = 42")
    status, _ = submit(server.url, protocol.signed(
        check_payload(store, alan.account_id, catalog.get(LAB), {"deploy-initial-resources": "pass", "create-topic": "pass"}),
        alan.token))
    assert status == 201
    expect(cell).to_have_attribute("data-status", "pass", timeout=10_000)  # polled by the page's own script
    assert page.evaluate("window.__no_reload_marker") == 42
    assert page.locator("tr[data-learner='learner-02'] [data-testid=score]").inner_text() == "1.5/6.5"
    assert "Live" in page.locator("#live-status").inner_text()


def test_the_csv_download_matches_the_api(page, served, tmp_path):
    server, store, token = served
    ada = store.find_learner("learner-01")
    submit(server.url, protocol.signed(check_payload(store, ada.account_id, catalog.get(LAB),
                                                     {task.id: "pass" for task in catalog.get(LAB).spec.tasks}), ada.token))
    with page.expect_download() as download_info:
        page.click("[data-testid=download-csv]")
    downloaded = Path(download_info.value.path()).read_bytes()
    assert download_info.value.suggested_filename == "grades-workshop.csv"
    _, _, from_api = http("GET", server.url + "/_cohort/api/grades.csv", headers=bearer(token))
    assert downloaded == from_api
    _, _, as_json = http("GET", server.url + "/_cohort/api/grades.json", headers=bearer(token))
    document = json.loads(as_json)
    rows = list(csv.DictReader(io.StringIO(downloaded.decode())))
    assert [(row["id"], row["total"]) for row in rows] == [(r["id"], r["total"]) for r in document["learners"]]
    assert rows[0]["total"] == "6.5"


def test_signing_out_closes_the_dashboard(page, served):
    server, _, _ = served
    page.click("text=Sign out")
    page.wait_for_selector("input[name=token]")
    status = page.evaluate("fetch('/_cohort/api/grid').then(r => r.status)")
    assert status == 401
