"""The journey request -> approve -> check -> revoke -> check, over the API and in a browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from consent.lib.receipts import verify_receipt
from registry.models import Organisation, User
from tests.consent.records_factories import (
    bearer,
    make_org,
    make_person,
    org_key,
    personal_token,
)
from tests.support import headless_chromium, left_the_page
from tests.trust import organisation_verified

PASSWORD = "correct horse battery staple"  # the factories' password
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def keys_json() -> dict:
    return APIClient().get("/.well-known/likeness-registry/keys.json").json()


@pytest.mark.django_db
def test_the_journey_over_the_api(django_capture_on_commit_callbacks, settings):
    settings.WEBHOOKS_ALLOW_INSECURE_LOCALHOST = True
    make_person(handle="alan")
    person = make_person(handle="joan")
    studio = make_org("studio", name="Bletchley Pictures")
    desk = APIClient()
    desk.credentials(
        **bearer(org_key(studio, "consent:request", "consent:read", "webhooks:manage"))
    )
    me = APIClient()
    me.credentials(**bearer(personal_token(person)))

    # 1. The studio asks.
    asked = desk.post(
        "/api/v1/consent-requests",
        {
            "person": "joan",
            "purpose": "Joan's likeness in a period drama's opening titles",
            "categories": ["entertainment"],
            "media_types": ["video"],
            "territory": "worldwide",
            "project_ref": "TITLES-1",
        },
        format="json",
    )
    assert asked.status_code == 201, asked.content
    request_id = asked.json()["request_id"]

    # 2. The person sees it and approves: a signed grant.
    waiting = me.get("/api/v1/me/consent/requests").json()["results"]
    assert [item["request_id"] for item in waiting] == [request_id]
    approved = me.post(f"/api/v1/me/consent/requests/{request_id}/approve")
    assert approved.status_code == 201, approved.content
    grant_id = approved.json()["record_id"]
    proof = me.get(f"/api/v1/consent-records/{grant_id}").json()["proof"]
    assert proof["envelope"]["payload"]["kind"] == "grant"
    held = desk.get(f"/api/v1/consent-records/{grant_id}")
    assert held.status_code == 200 and held.json()["record"]["purpose"].startswith("Joan")

    # 3. The studio checks before production: consented, with a receipt that verifies.
    use = {"person": "joan", "category": "entertainment", "media_type": "video", "territory": "US"}
    first = desk.post("/api/v1/consent-checks", use, format="json").json()
    assert first["result"] == "consented" and first["decided_by"] == grant_id
    assert verify_receipt(first["receipt"], keys_json())["result"] == "consented"

    # 4. The person revokes; the answer comes once it is committed.
    revoked = me.post(f"/api/v1/consent-records/{grant_id}/revoke")
    assert revoked.status_code == 201, revoked.content
    assert revoked.json()["revokes"] == grant_id

    # 5. The next check says revoked, naming the same grant.
    second = desk.post("/api/v1/consent-checks", use, format="json").json()
    assert second["result"] == "revoked" and second["decided_by"] == grant_id
    assert verify_receipt(second["receipt"], keys_json())["result"] == "revoked"
    # The first receipt still verifies: it was true when it was issued, and the log keeps it.
    verify_receipt(first["receipt"], keys_json())
    assert second["receipt"]["leaf_index"] > first["receipt"]["leaf_index"]

    # Another person cannot revoke, another studio cannot read the grant.
    other = APIClient()
    other.credentials(**bearer(personal_token(make_person())))
    assert other.post(f"/api/v1/consent-records/{grant_id}/revoke").status_code == 404
    stranger = APIClient()
    stranger.credentials(**bearer(org_key(make_org("studio"), "consent:read")))
    assert stranger.get(f"/api/v1/consent-records/{grant_id}").status_code == 404


# --- in a browser ---------------------------------------------------------------------------------


@pytest.fixture
def browser():
    with headless_chromium() as driver:
        yield driver


class Page:
    """Small helpers over the driver: visit, fill, tick, click-and-wait-for-the-next-page."""

    def __init__(self, driver, base_url: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver, self.base_url, self.by = driver, base_url, By

    def visit(self, path: str, css: str = "main"):
        self.driver.get(self.base_url + path)
        return self.wait(css)

    def wait(self, css: str, timeout: float = 60):
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(
            expected_conditions.presence_of_element_located((self.by.CSS_SELECTOR, css))
        )

    def find(self, css: str):
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def fill(self, css: str, value: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    def tick(self, css: str) -> None:
        element = self.find(css)
        if not element.is_selected():
            element.click()

    def click(self, css: str, then: str):
        from selenium.webdriver.support.ui import WebDriverWait

        element = self.find(css)
        element.click()
        WebDriverWait(self.driver, 60).until(left_the_page(element))
        return self.wait(then)

    def sign_in_as(self, email: str) -> None:
        self.driver.delete_all_cookies()
        self.visit("/login/", "#id_username")
        self.fill("#id_username", email)
        self.fill("#id_password", PASSWORD)
        self.click("form button[type=submit]", "main")
        assert "/login/" not in self.driver.current_url, "sign-in failed"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_journey_in_a_browser(browser, live_server):
    person = make_person(handle="katherine")
    page = Page(browser, live_server.url)

    # 0. A producer signs up, creates the studio and reaches its desk from the studio's page;
    # an operator verifies the studio (until then its grants would not count as consent).
    page.visit("/signup/", "#id_email")
    page.fill("#id_display_name", "Pat Producer")
    page.fill("#id_email", "pat@langley.example")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_password_again", PASSWORD)
    page.click("#signup-submit", "#next-step")
    page.visit("/orgs/", "#org-create-form")
    page.fill("#id_name", "Langley Films")
    page.tick("input[name='kind'][value='studio']")
    page.click("#org-create-submit", "#studio-desk-link")
    studio = Organisation.objects.get(name="Langley Films")
    assert studio.verification == "unverified"
    organisation_verified(studio)
    producer = User.objects.get(email="pat@langley.example")
    page.click("#studio-desk-link", "#ask-form")
    desk = f"/studio/{studio.slug}/consent/"

    # 1. The producer asks, on the studio's consent desk.
    page.fill("#id_ask-person", "katherine")
    page.fill("#id_ask-purpose", "Katherine's likeness in the launch film")
    page.tick("input[name='ask-categories'][value='commercial']")
    page.tick("input[name='ask-media_types'][value='video']")
    page.click("#ask-submit", "#studio-requests")
    assert "Waiting" in page.find("#studio-requests").text

    # 2. The person finds it waiting on their dashboard and approves.
    page.sign_in_as(person.user.email)
    page.visit("/me/consent/", "#waiting")
    page.click("#waiting a", "#approve")
    assert "launch film" in page.find("#purpose").text
    page.click("#approve", "#record-id")
    grant_id = page.find("#record-id").text
    assert page.find("#record-status").text == "active"
    assert '"kind": "grant"' in page.find("#proof").get_attribute("textContent")

    # 3. The producer checks: consented.
    def check() -> str:
        page.visit(desk, "#check-form")
        page.fill("#id_check-person", "katherine")
        page.find("#id_check-category option[value='commercial']").click()
        page.find("#id_check-media_type option[value='video']").click()
        page.click("#check-submit", "#check-result")
        return page.find("#check-result").text

    page.sign_in_as(producer.email)
    assert check() == "consented"
    assert page.find("#decided-by").text == grant_id
    assert grant_id in page.find("#studio-grants").text
    # The receipt downloads as a file that verifies offline against the published keys.
    downloaded = page.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'})"
        ".then(r => r.text().then(body => done({status: r.status, body,"
        " disposition: r.headers.get('Content-Disposition')})))"
        ".catch(e => done({error: String(e)}));",
        page.find("#receipt-download").get_attribute("href"),
    )
    assert downloaded.get("status") == 200, downloaded
    assert downloaded["disposition"].startswith("attachment;")
    assert verify_receipt(json.loads(downloaded["body"]), keys_json())["result"] == "consented"
    page.driver.set_window_size(1200, 3200)  # the whole desk, tracking tables included
    page.driver.save_screenshot(str(DOCS_IMG / "studio-desk.png"))
    page.driver.set_window_size(1200, 1600)

    # 4. The person revokes: one click, then the confirmation.
    page.sign_in_as(person.user.email)
    page.visit("/me/consent/", "#grants")
    page.click(f"tr[data-record='{grant_id}'] a.revoke", "#confirm-revoke")
    page.click("#confirm-revoke", "#record-status")
    assert page.find("#record-status").text.startswith("revoked on")
    assert "took effect immediately" in page.find(".messages").text

    # 5. The producer checks again: revoked.
    page.sign_in_as(producer.email)
    assert check() == "revoked"
    assert page.find("#decided-by").text == grant_id
