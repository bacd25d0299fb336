"""The dispute view in a real browser: a second account uploads a registered face and sees the
notice, the first account sees its own notice and reports from the form. Neither page names the
other person. Saves the newcomer's page as ``docs/img/dispute.png``."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.services import person_enroll
from registry.models import Dispute, Person
from tests.consent.records_factories import make_person
from tests.support import (
    CHROMEDRIVER,
    CHROMIUM,
    NO_BROWSER_REASON,
    REPO,
    headless_chromium,
    left_the_page,
)

PASSWORD = "correct horse battery staple"
SCREENSHOT = REPO / "docs" / "img" / "dispute.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=NO_BROWSER_REASON),
]


@pytest.fixture
def browser():
    with headless_chromium() as driver:
        yield driver


class Page:
    def __init__(self, driver, base: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver, self.base, self.by = driver, base, By

    def wait(self, css: str):
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, 90).until(
            expected_conditions.presence_of_element_located((self.by.CSS_SELECTOR, css))
        )

    def find(self, css: str):
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def click(self, css: str, then: str):
        from selenium.webdriver.support.ui import WebDriverWait

        element = self.find(css)
        element.click()
        WebDriverWait(self.driver, 90).until(left_the_page(element))
        return self.wait(then)

    def sign_in_as(self, email: str) -> None:
        self.driver.delete_all_cookies()
        self.driver.get(f"{self.base}/login/")
        self.wait("#id_username").send_keys(email)
        self.find("#id_password").send_keys(PASSWORD)
        self.click("form button[type=submit]", "main")
        assert "/login/" not in self.driver.current_url, "sign-in failed"

    def text(self) -> str:
        return self.find("main").text


def test_the_dispute_notice_and_the_report_form(browser, live_server, faces_dir: Path):
    holder = make_person()
    person_enroll(
        person=holder,
        images=[
            (name, (faces_dir / "people/kit_harington" / name).read_bytes())
            for name in ("kit1.jpg", "kit2.jpg")
        ],
    )
    newcomer = make_person()
    page = Page(browser, live_server.url)

    # The newcomer uploads another photo of the same face.
    page.sign_in_as(newcomer.user.email)
    page.driver.get(f"{live_server.url}/me/")
    page.find("#id_photos").send_keys(str(faces_dir / "people/kit_harington/kit3.jpg"))
    page.click("#upload-submit", "#enroll-results")
    dispute = Dispute.objects.get()
    notice = page.find(f"#dispute-{dispute.public_id}").text
    assert "Your face is in a dispute" in notice
    assert "Your photos match a face that someone else registered first" in notice
    assert "match a face registered by someone else" in page.find(".messages").text
    assert Person.objects.get(pk=newcomer.pk).registration_status == "disputed"
    page.find("#face-report summary").click()
    page.wait("#face-report-confirm")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.driver.save_screenshot(str(SCREENSHOT))
    for identifying in (holder.public_id, holder.display_name, holder.user.email):
        assert identifying not in page.text()

    # The holder sees their side of it and reports from the form.
    page.sign_in_as(holder.user.email)
    page.driver.get(f"{live_server.url}/me/")
    notice = page.wait(f"#dispute-{dispute.public_id}").text
    assert "Someone else registered photos that match your face" in notice
    page.find("#face-report summary").click()
    page.wait("#face-report-confirm").click()
    page.click("#face-report-submit", ".messages")
    assert "A dispute about your face is already with an operator." in page.text()
    for identifying in (newcomer.public_id, newcomer.display_name, newcomer.user.email):
        assert identifying not in page.text()
    assert Dispute.objects.count() == 1
