"""A real browser (Debian's headless Chromium) through sign-up, email verification, enrollment,
photo deletion, export and account deletion. Skips, saying why, only where Chromium or its driver
is missing (``make test`` installs them when it can)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core import mail

from registry.models import FaceTemplate, Person, User
from tests.support import (
    CHROMEDRIVER,
    CHROMIUM,
    NO_BROWSER_REASON,
    headless_chromium,
    left_the_page,
)

PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=NO_BROWSER_REASON),
]


@pytest.fixture
def browser():
    with headless_chromium() as driver:
        yield driver


def _wait_for(driver, css: str, timeout: float = 90):
    """The element once the page that has it is loaded (form posts return before that)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def _click_and_wait(driver, element, css: str):
    """Click something that loads a new page, then wait for ``css`` on the new page."""
    from selenium.webdriver.support.ui import WebDriverWait

    element.click()
    WebDriverWait(driver, 90).until(left_the_page(element))
    return _wait_for(driver, css)


def _fill(driver, field_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(value)


def test_signup_verify_enroll_delete_photo_export_and_delete_account(
    browser, live_server, settings, faces_dir: Path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    settings.SITE_URL = live_server.url
    driver = browser

    # Sign up.
    driver.get(f"{live_server.url}/signup/")
    _fill(driver, "id_display_name", "Robin Browser")
    _fill(driver, "id_email", "robin@example.org")
    _fill(driver, "id_password", PASSWORD)
    _fill(driver, "id_password_again", PASSWORD)
    _click_and_wait(driver, driver.find_element(By.ID, "signup-submit"), "#email-status")
    assert urlsplit(driver.current_url).path == "/me/"
    assert driver.find_element(By.ID, "email-status").text == "not verified yet"
    person = Person.objects.get(user__email="robin@example.org")

    # Verify with the one-time link from the email.
    (message,) = [m for m in mail.outbox if m.to == ["robin@example.org"]]
    link = next(word for word in message.body.split() if "/verify/" in word)
    driver.get(f"{live_server.url}{urlsplit(link).path}")
    assert urlsplit(driver.current_url).path == "/me/"
    assert driver.find_element(By.ID, "email-status").text == "verified"
    assert driver.find_element(By.ID, "assurance").text == "Email verified"

    # Enroll: two good photos and one with two faces, through the file input.
    files = [
        faces_dir / "people/obama/obama.jpg",
        faces_dir / "people/obama/obama2.jpg",
        faces_dir / "group/two_people.jpg",
    ]
    driver.find_element(By.ID, "id_photos").send_keys("\n".join(str(f) for f in files))
    results = _click_and_wait(
        driver, driver.find_element(By.ID, "upload-submit"), "#enroll-results"
    ).text
    assert "obama.jpg: accepted" in results
    assert "two_people.jpg: refused — two faces found" in results
    assert len(driver.find_elements(By.CSS_SELECTOR, "#photos tr.photo-row")) == 2
    assert FaceTemplate.objects.filter(person=person).count() == 2

    # Delete one photo: the page asks first, and nothing is deleted until the person agrees.
    delete = driver.find_element(By.CSS_SELECTOR, "#photos tr.photo-row button")
    delete.click()
    question = driver.switch_to.alert
    assert "cannot be undone" in question.text
    question.dismiss()
    assert FaceTemplate.objects.filter(person=person).count() == 2
    delete.click()
    driver.switch_to.alert.accept()
    WebDriverWait(driver, 90).until(left_the_page(delete))
    _wait_for(driver, "#photos")
    assert urlsplit(driver.current_url).path == "/me/"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#photos tr.photo-row")) == 1
    assert FaceTemplate.objects.filter(person=person).count() == 1

    # Export: the page's download link serves the JSON of all the person's data.
    href = driver.find_element(By.ID, "export-link").get_attribute("href")
    exported = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'})"
        ".then(r => r.json().then(body => done({status: r.status,"
        " disposition: r.headers.get('Content-Disposition'), body})))"
        ".catch(e => done({error: String(e)}));",
        href,
    )
    assert exported.get("status") == 200, exported
    assert exported["disposition"].startswith("attachment;")
    assert exported["body"]["account"]["email"] == "robin@example.org"
    assert exported["body"]["person"]["subject"] == person.public_id
    assert len(exported["body"]["templates"]) == 1

    # Delete the account.
    _click_and_wait(driver, driver.find_element(By.ID, "delete-account-link"), "#id_confirm")
    _fill(driver, "id_confirm", "delete my account")
    _fill(driver, "id_password", PASSWORD)
    deleted = _click_and_wait(
        driver, driver.find_element(By.ID, "delete-account-submit"), "#deleted"
    )
    assert deleted.text == "Your account is deleted"
    assert not Person.objects.filter(pk=person.pk).exists()
    assert not User.objects.filter(email="robin@example.org").exists()
    assert not FaceTemplate.objects.filter(person_id=person.pk).exists()
