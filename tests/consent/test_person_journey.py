"""A person's journey in a browser, as a newcomer would walk it: sign up, verify the email, add
photos, opt out, find the proof, revoke. Screenshots of the pages go to docs/img for the guide."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core import mail

from consent.models import Record, RecordKind
from registry.models import Person
from tests.consent.test_journey import Page, browser  # noqa: F401 - the fixture is used by name

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "correct horse battery staple"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_person_signs_up_opts_out_and_revokes_in_a_browser(
    browser,  # noqa: F811
    live_server,
    settings,
    faces_dir: Path,
):
    settings.SITE_URL = live_server.url
    page = Page(browser, live_server.url)
    driver = browser

    page.visit("/signup/", "#id_email")
    page.fill("#id_display_name", "Ada Newcomer")
    page.fill("#id_email", "Ada@Example.org")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_password_again", PASSWORD)
    page.click("#signup-submit", "#next-step")
    assert "Verify your email address" in page.find("#next-step").text

    (message,) = [m for m in mail.outbox if "ada@example.org" in m.to[0].lower()]
    link = next(word for word in message.body.split() if "/verify/" in word)
    page.visit(urlsplit(link).path, "#next-step")
    assert "Add two or three photos" in page.find("#next-step").text

    page.find("#id_photos").send_keys(
        "\n".join(str(faces_dir / p) for p in ("people/obama/obama.jpg", "people/obama/obama2.jpg"))
    )
    page.click("#upload-submit", "#enroll-results")
    assert "Decide how your likeness may be used" in page.find("#next-step").text
    driver.save_screenshot(str(DOCS_IMG / "person-me.png"))

    # Opt out of two uses: each box sits right next to its words.
    page.visit("/me/consent/", "#optout-form")
    some = page.find("#id_scope_1")
    words = page.find("label[for='id_scope_1']")
    assert some.location["x"] - words.location["x"] < 40, "the radio button is far from its label"
    some.click()
    page.tick("input[name='categories'][value='political']")
    page.tick("input[name='categories'][value='sexual']")
    driver.save_screenshot(str(DOCS_IMG / "person-optout-form.png"))
    page.click("#optout-submit", "#optouts")
    assert "recorded and signed" in page.find(".messages").text
    assert "political, sexual" in page.find("#optouts").text

    # The same opt-out again is refused, saying which record covers it.
    page.find("#id_scope_1").click()
    page.tick("input[name='categories'][value='political']")
    page.click("#optout-submit", "#optouts")
    assert "already covers this" in page.find(".messages").text
    person = Person.objects.get(user__email__iexact="ada@example.org")
    assert Record.objects.filter(person=person, kind=RecordKind.OPTOUT).count() == 1

    # The proof, in plain words, then the revocation: one click and a confirmation.
    page.click("#optouts a[href*='/me/consent/records/']", "#proof-explained")
    assert "append-only log" in page.find("main").text
    driver.save_screenshot(str(DOCS_IMG / "person-proof.png"))
    page.click("#revoke", "#confirm-revoke")
    page.click("#confirm-revoke", "#record-status")
    assert page.find("#record-status").text.startswith("revoked on")
    record_path = urlsplit(driver.current_url).path
    page.visit(record_path + "revoke/", "#already-revoked")
    assert not driver.find_elements(page.by.CSS_SELECTOR, "#confirm-revoke")
