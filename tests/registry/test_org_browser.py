"""A platform's journey in a real browser (headless Chromium): sign up, create a platform
organisation, create an API key with the scope picker, copy it, use it with the API, revoke it,
invite a member and set up a webhook. Saves the screenshots of ``docs/guide.md``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from django.core import mail

from registry.models import ApiKey, Invitation, Organisation
from tests.consent.test_webhooks import Receiver
from tests.registry.test_browser import _click_and_wait, _fill
from tests.support import CHROMEDRIVER, CHROMIUM, NO_BROWSER_REASON, REPO, headless_chromium

PASSWORD = "correct horse battery staple"
SCREENSHOTS = REPO / "docs" / "img"

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


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_INSECURE_LOCALHOST = True
    receiver = Receiver()
    yield receiver
    receiver.close()


def _api_get(url: str, key: str) -> tuple[int, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _screenshot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The whole page, not just the window: fit the window to the content's height (the
    # document's own height is never less than the window's).
    height = driver.execute_script(
        "return Math.ceil(document.body.getBoundingClientRect().height) + 60"
    )
    chrome = driver.execute_script("return window.outerHeight - window.innerHeight")
    driver.set_window_size(1200, max(600, min(height + chrome, 2400)))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1200, 1600)


def test_a_platform_from_sign_up_to_an_api_key_a_member_and_a_webhook(
    browser, live_server, settings, receiver
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    settings.SITE_URL = "http://wrong.invalid"  # links must use the address the site was reached on
    driver, site = browser, live_server.url

    # Sign up.
    driver.get(f"{site}/signup/")
    _fill(driver, "id_display_name", "Casey Platform")
    _fill(driver, "id_email", "casey@example.org")
    _fill(driver, "id_password", PASSWORD)
    _fill(driver, "id_password_again", PASSWORD)
    _click_and_wait(driver, driver.find_element(By.ID, "signup-submit"), "#email-status")

    # Create a platform organisation from the Organisations page in the header.
    _click_and_wait(driver, driver.find_element(By.LINK_TEXT, "Organisations"), "#org-create-form")
    _fill(driver, "id_name", "Acme Video")
    driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=platform]").click()
    _click_and_wait(driver, driver.find_element(By.ID, "org-create-submit"), "#org-kind")
    organisation = Organisation.objects.get(name="Acme Video")
    assert urlsplit(driver.current_url).path == f"/orgs/{organisation.slug}/"
    assert driver.find_element(By.ID, "org-kind").text == "Platform"
    assert driver.find_element(By.CSS_SELECTOR, "h1 .verification").text == "Unverified"
    assert driver.find_element(By.ID, "current-org").text == "Acme Video"
    assert (
        driver.find_element(By.ID, "checks-link")
        .get_attribute("href")
        .endswith(f"/orgs/{organisation.slug}/checks/")
    )
    _screenshot(driver, "org-overview")

    # An API key with the scope picker; the secret is shown once, with a copy button.
    _click_and_wait(driver, driver.find_element(By.LINK_TEXT, "API keys"), "#key-form")
    picker = driver.find_element(By.ID, "scope-picker").text
    assert "checks:write — Submit media checks" in picker
    _fill(driver, "id_name", "production upload")
    for scope in ("checks:write", "checks:read"):
        driver.find_element(By.CSS_SELECTOR, f"input[name=scopes][value='{scope}']").click()
    _click_and_wait(driver, driver.find_element(By.ID, "key-submit"), "#new-key-secret")
    assert "will not be shown again" in driver.find_element(By.ID, "new-key").text
    driver.find_element(By.ID, "copy-key").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "copy-status").text)
    assert driver.find_element(By.ID, "copy-status").text in {
        "Copied to the clipboard.",
        "Select the key and copy it (Ctrl+C).",
    }
    secret = driver.find_element(By.ID, "new-key-secret").get_attribute("value")
    assert secret.startswith("lr_")
    _screenshot(driver, "org-keys")

    # The copied key works with the API, with exactly the scopes picked.
    status, body = _api_get(f"{site}/api/v1/organisations", secret)
    assert status == 200 and body[0]["slug"] == organisation.slug
    key = ApiKey.objects.get(organisation=organisation)
    assert sorted(key.scopes) == ["checks:read", "checks:write"]
    driver.get(f"{site}/orgs/{organisation.slug}/keys/")
    assert secret not in driver.page_source
    row = driver.find_element(By.CSS_SELECTOR, f"tr.key-row[data-key-id='{key.pk}']")
    assert "never" not in row.text  # the call above is its last use

    # Revoke it, after confirming; the API refuses it from then on.
    _click_and_wait(driver, row.find_element(By.CSS_SELECTOR, "a.revoke"), "#confirm-submit")
    _click_and_wait(driver, driver.find_element(By.ID, "confirm-submit"), "#keys")
    assert "revoked" in driver.find_element(By.CSS_SELECTOR, "tr.key-row").text
    status, body = _api_get(f"{site}/api/v1/organisations", secret)
    assert status == 401 and "error" in body

    # Invite a member by email.
    _click_and_wait(driver, driver.find_element(By.LINK_TEXT, "Members"), "#invite-form")
    _fill(driver, "id_email", "sam@example.org")
    Select(driver.find_element(By.ID, "id_role")).select_by_value("member")
    _click_and_wait(driver, driver.find_element(By.ID, "invite-submit"), "#invitations")
    assert "sam@example.org" in driver.find_element(By.ID, "invitations").text
    (message,) = [m for m in mail.outbox if m.to == ["sam@example.org"]]
    link = next(word for word in message.body.split() if "/invitations/" in word)
    assert link.startswith(site)
    assert Invitation.objects.get(email="sam@example.org").is_pending
    _screenshot(driver, "org-members")

    # A webhook endpoint: add it, send a test event, see a failed delivery and redeliver it.
    _click_and_wait(driver, driver.find_element(By.LINK_TEXT, "Webhooks"), "#endpoint-form")
    _fill(driver, "id_url", "http://169.254.169.254/latest")
    _click_and_wait(driver, driver.find_element(By.ID, "endpoint-submit"), "#endpoint-form")
    assert driver.find_element(By.CSS_SELECTOR, "#endpoint-form .errorlist").text
    _fill(driver, "id_url", receiver.url)
    _fill(driver, "id_description", "staging receiver")
    _click_and_wait(driver, driver.find_element(By.ID, "endpoint-submit"), "#endpoint-secret")
    assert driver.find_element(By.ID, "endpoint-secret").get_attribute("value").startswith("whsec_")
    _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button.send-test"), ".deliveries")
    assert "delivered" in driver.find_element(By.CSS_SELECTOR, "tr.delivery-row").text
    receiver.statuses.append(410)  # the receiver refuses the next one for good
    _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button.send-test"), ".deliveries")
    failed = driver.find_element(By.CSS_SELECTOR, "tr.delivery-row")
    assert "failed" in failed.text and "HTTP 410" in failed.text
    _screenshot(driver, "org-webhooks")
    _click_and_wait(driver, failed.find_element(By.CSS_SELECTOR, "button.redeliver"), ".deliveries")
    assert "delivered" in driver.find_element(By.CSS_SELECTOR, "tr.delivery-row").text
    assert len(receiver.requests) == 3
