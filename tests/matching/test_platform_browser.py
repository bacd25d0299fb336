"""A platform member in a real browser (Debian's headless Chromium): checks a photo through the
web form and sees the faces boxed, finds the check in the history, decides a face in the review
queue, downloads the receipt (which ``manage.py verify_receipt`` accepts) and looks at usage.

Saves the screenshots of docs/guide.md ("For platforms") under docs/img/platform-*.png.
"""

from __future__ import annotations

import io
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from matching.models import ReviewDecision
from registry.models import ApiKey, AssuranceLevel, Organisation, User
from tests.matching.checks_fixtures import FACES, enroll
from tests.matching.platform_fixtures import stored_check
from tests.support import (
    CHROMEDRIVER,
    CHROMIUM,
    NO_BROWSER_REASON,
    headless_chromium,
    left_the_page,
)
from tests.trust import organisation_verified

PASSWORD = "correct horse battery staple"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_rate_limits"),
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=NO_BROWSER_REASON),
]


def _wait(driver, condition, timeout: float = 90):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _element(driver, css: str, timeout: float = 90):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    return _wait(
        driver, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)), timeout
    )


def _screenshot(driver, name: str) -> None:
    """The whole page, as tall as its content, from the top."""
    height = driver.execute_script(
        "return Math.ceil(document.querySelector('main').getBoundingClientRect().bottom"
        " + window.scrollY)"
    )
    metrics = {"width": 1200, "height": max(600, min(height + 40, 2400))}
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**metrics, "deviceScaleFactor": 1, "mobile": False}
    )
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"platform-{name}.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture
def browser():
    with headless_chromium() as driver:
        yield driver


def test_a_member_checks_a_photo_reviews_a_face_and_downloads_the_receipt(
    browser, live_server, tmp_path, settings
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # Obama opted out with only a self-asserted identity (a match asks for review), Biden with
    # a liveness check (a match blocks).
    enroll("obama", ["obama/obama.jpg", "obama/obama2.jpg"], assurance=AssuranceLevel.SELF_ASSERTED)
    enroll("biden", ["biden/biden.jpg"])
    driver = browser

    # A member signs up, creates the platform on /orgs/ (an operator verifies it) and makes an
    # API key with the scope picker: the secret is shown once, and it works with the API.
    driver.get(f"{live_server.url}/signup/")
    driver.find_element(By.ID, "id_display_name").send_keys("Mira")
    driver.find_element(By.ID, "id_email").send_keys("mira@clipshare.example")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.ID, "id_password_again").send_keys(PASSWORD)
    driver.find_element(By.ID, "signup-submit").click()
    _element(driver, "#next-step")
    driver.get(f"{live_server.url}/orgs/")
    driver.find_element(By.ID, "id_name").send_keys("Clip Share")
    driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=platform]").click()
    driver.find_element(By.ID, "org-create-submit").click()
    _element(driver, "#checks-link")
    organisation = Organisation.objects.get(name="Clip Share")
    organisation_verified(organisation)
    user = User.objects.get(email="mira@clipshare.example")
    slug = organisation.slug
    driver.get(f"{live_server.url}/orgs/{slug}/keys/")
    driver.find_element(By.ID, "id_name").send_keys("publishing pipeline")
    driver.find_element(By.CSS_SELECTOR, "input[name=scopes][value='checks:write']").click()
    driver.find_element(By.ID, "key-submit").click()
    secret = _element(driver, "#new-key-secret").get_attribute("value")
    key = ApiKey.objects.get(organisation=organisation)
    api = Client().get("/api/v1/checks", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 200, api.content

    driver.get(f"{live_server.url}/orgs/{slug}/checks/new")

    # The web form: pick a use and a photo; the result draws a box per face on the photo.
    _element(driver, "#check-form")
    Select(driver.find_element(By.ID, "id_category")).select_by_value("commercial")
    driver.find_element(By.ID, "id_file").send_keys(str(FACES / "group" / "obama_and_biden.jpg"))
    driver.find_element(By.ID, "check-submit").click()
    _element(driver, "#result-canvas[data-boxes]")
    assert driver.find_element(By.ID, "result-canvas").get_attribute("data-boxes") == "3"
    verdicts = [
        row.text for row in driver.find_elements(By.CSS_SELECTOR, "#result-faces .face-row")
    ]
    assert any("blocked" in row for row in verdicts)
    assert any("needs review" in row for row in verdicts)
    assert driver.find_element(By.ID, "result-verdict").text == "blocked"
    # The canvas really holds the photo with coloured boxes (not a blank element).
    painted = driver.execute_script(
        "const c = document.getElementById('result-canvas');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let red = 0; for (let i = 0; i < d.length; i += 4) {"
        "  if (d[i] === 0xb3 && d[i + 1] === 0x26 && d[i + 2] === 0x1e) red++; } return red;"
    )
    assert painted > 100
    _screenshot(driver, "check-result")

    # The history lists it, with the filters.
    driver.get(f"{live_server.url}/orgs/{slug}/checks/")
    rows = driver.find_elements(By.CSS_SELECTOR, "#checks-table .check-row")
    assert len(rows) == 1 and "blocked" in rows[0].text and "web form" in rows[0].text
    Select(driver.find_element(By.ID, "f-verdict")).select_by_value("clear")
    driver.find_element(By.ID, "filter-submit").click()
    _element(driver, "#checks-empty")
    Select(driver.find_element(By.ID, "f-verdict")).select_by_value("")
    submit = driver.find_element(By.ID, "filter-submit")
    submit.click()
    _wait(driver, left_the_page(submit))
    _element(driver, "#checks-table")
    _screenshot(driver, "history")

    # The review queue: one face waits (Obama's, without naming him); decide it.
    driver.find_element(By.ID, "nav-review").click()
    _element(driver, "#review-table")
    assert driver.find_element(By.ID, "review-waiting").text == "1"
    assert "obama" not in driver.page_source.lower()
    _screenshot(driver, "review")
    driver.find_element(By.CSS_SELECTOR, ".review-row button[value=not_this_person]").click()
    _element(driver, "#review-empty")
    decision = ReviewDecision.objects.get()
    assert (decision.decision, decision.decided_by) == ("not_this_person", user)

    # The check's page shows the decision; its receipt downloads and verifies.
    driver.find_element(By.CSS_SELECTOR, "#decided-table a").click()
    _element(driver, "#faces-table")
    assert "Not this person" in driver.find_element(By.ID, "faces-table").text
    _screenshot(driver, "check-detail")
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    driver.find_element(By.ID, "receipt-download").click()
    _wait(driver, lambda _d: list(tmp_path.glob("receipt-check-*.json")), timeout=30)
    (downloaded,) = tmp_path.glob("receipt-check-*.json")
    out = io.StringIO()
    call_command("verify_receipt", str(downloaded), stdout=out)
    assert out.getvalue().startswith("valid:") and "blocked" in out.getvalue()

    # Usage: a month of API checks and today's, per day and verdict; the limits in force.
    now = timezone.now()
    for day in range(1, 30):
        for n in range((day * 7) % 5 + 1):
            verdict = ["clear", "clear", "needs_review", "clear", "blocked", "consented"][
                (day + n) % 6
            ]
            stored_check(
                organisation,
                verdict=verdict,
                created_at=now - timedelta(days=day, minutes=n),
                api_key=key,
            )
    settings.CHECKS_RATE_PER_KEY = "600/min"
    settings.CHECKS_RATE_PER_ORGANISATION = "3000/min"
    driver.get(f"{live_server.url}/orgs/{slug}/usage/")
    _element(driver, "#usage-chart svg rect")
    assert "600 checks per minute" in driver.find_element(By.ID, "rate-limits").text
    _screenshot(driver, "usage")
