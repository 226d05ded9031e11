"""The postmortems page in a real headless browser: Debian's chromium and chromium-driver, driven
with selenium. The page is built by `vigil build` and loaded from a file:// URL, as a person would
open output/postmortems/index.html; the network is not needed (and not reachable)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_postmortems import SEARCH_SET, catalog_with

from conftest import ROOT
from vigil.build import build
from vigil.layout import POSTMORTEMS_PAGE

INSTALL = "apt-get install -y --no-install-recommends chromium chromium-driver"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1200,1000")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium missing: pip install -e '.[dev]'")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

IDS = sorted((pm["id"] for pm in SEARCH_SET), reverse=True)   # the page lists newest first


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("page")
    out = tmp / "output"
    build(catalog_with(tmp, *SEARCH_SET), out, run_checks=False)
    return out / POSTMORTEMS_PAGE


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip(f"chromium or chromedriver missing: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="vigil-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    # The driver's path is given, so selenium does not look for (or download) one.
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    try:
        yield chrome
    finally:
        chrome.quit()
        shutil.rmtree(profile, ignore_errors=True)


def visible(browser: webdriver.Chrome) -> list[str]:
    return [el.get_attribute("id") for el in browser.find_elements(By.CSS_SELECTOR, "details.pm") if el.is_displayed()]


def reset(browser: webdriver.Chrome, page: Path, fragment: str = "") -> None:
    browser.get(page.as_uri() + fragment)
    browser.refresh()   # a fragment-only change would not reload the page
    assert visible(browser) == IDS


def search_box(browser: webdriver.Chrome) -> object:
    return browser.find_element(By.ID, "q")


def count(browser: webdriver.Chrome) -> str:
    return browser.find_element(By.ID, "count").text


def test_everything_is_listed_at_first(browser, page):
    reset(browser, page)
    assert count(browser) == "3 of 3 postmortems"
    assert not browser.find_element(By.ID, "empty").is_displayed()


@pytest.mark.parametrize("typed, expected", [
    ("pool", ["2026-02-10-payment-pool"]),
    ("QUEUE Backlog", ["2026-03-01-checkout-queue"]),                     # every word, any case
    ("a test", IDS),                                                      # the body's text
    ("redis-cache", ["2026-01-05-checkout-cart-errors"]),                  # a value of the front matter
])
def test_search_box(browser, page, typed, expected):
    reset(browser, page)
    search_box(browser).send_keys(typed)
    assert visible(browser) == expected
    assert count(browser) == f"{len(expected)} of 3 postmortems"


@pytest.mark.parametrize("select, value, expected", [
    ("f-service", "payment", ["2026-02-10-payment-pool"]),
    ("f-service", "checkout", ["2026-03-01-checkout-queue", "2026-01-05-checkout-cart-errors"]),
    ("f-department", "cs", ["2026-02-10-payment-pool"]),
    ("f-department", "commerce-dev", ["2026-03-01-checkout-queue", "2026-01-05-checkout-cart-errors"]),
    ("f-metric", "queue_ready", ["2026-03-01-checkout-queue"]),
    ("f-metric", "error_ratio", ["2026-01-05-checkout-cart-errors"]),
    ("f-dependency", "orders-db", ["2026-02-10-payment-pool"]),
])
def test_each_filter(browser, page, select, value, expected):
    reset(browser, page)
    Select(browser.find_element(By.ID, select)).select_by_value(value)
    assert visible(browser) == expected
    Select(browser.find_element(By.ID, select)).select_by_value("")
    assert visible(browser) == IDS


def test_filters_and_search_combine_and_say_when_nothing_matches(browser, page):
    reset(browser, page)
    Select(browser.find_element(By.ID, "f-service")).select_by_value("checkout")
    search_box(browser).send_keys("backlog")
    assert visible(browser) == ["2026-03-01-checkout-queue"]
    search_box(browser).send_keys(" pool")
    assert visible(browser) == []
    assert browser.find_element(By.ID, "empty").is_displayed()
    assert count(browser) == "0 of 3 postmortems"


def test_a_postmortem_opens_and_reads(browser, page, tmp_path):
    reset(browser, page)
    item = browser.find_element(By.ID, "2026-02-10-payment-pool")
    body = item.find_element(By.CSS_SELECTOR, ".body")
    assert not body.is_displayed()
    item.find_element(By.TAG_NAME, "summary").click()
    assert body.is_displayed()
    assert "A test." in body.text
    assert "Detected 2026-02-10T10:30:00Z by customer after 30m" in body.text
    assert body.find_element(By.TAG_NAME, "h2").text == "Summary"
    shot = tmp_path / "postmortems.png"
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_link_to_a_postmortem_opens_it(browser, page):
    reset(browser, page, "#2026-03-01-checkout-queue")
    opened = [el.get_attribute("id") for el in browser.find_elements(By.CSS_SELECTOR, "details.pm[open]")]
    assert opened == ["2026-03-01-checkout-queue"]


def test_the_committed_example_page_searches_and_shows_its_chart(browser):
    example = ROOT / "output" / POSTMORTEMS_PAGE
    browser.get(example.as_uri())
    search_box(browser).send_keys("evicted carts")
    [shown] = visible(browser)
    assert shown == "2026-03-14-checkout-redis-evictions"
    item = browser.find_element(By.ID, shown)
    item.find_element(By.TAG_NAME, "summary").click()
    chart = item.find_element(By.CSS_SELECTOR, ".body img")
    assert chart.get_attribute("src").startswith("data:image/png;base64,")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", chart) > 0
