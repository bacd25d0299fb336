"""The live capture in a real browser: headless Chromium with a fake camera fed real head-turn
footage records the challenge on ``/me/liveness/`` and the person reaches ``liveness``.

How the random challenge is made deterministic, honestly: Chromium's fake camera plays a file
fixed at launch, and the page's challenge is drawn at random by the server. The test asks the
service for the person's challenge first (``liveness_challenge_create``, as the page would), reads
it, cuts a clip that performs exactly those turns, and only then launches Chromium with that clip
as its camera. The page's "Start" fetches the person's pending challenge, which is that same
attempt (a reload never spends an attempt), so nothing in the server is bent for the test: the
challenge stays random, the nonce single-use, and the clip must follow it.

The fake camera loops its file from the moment the page opens the camera, and the page records
from then on: the file is a frontal lead-in, the turns, and a long frontal tail, so the loop never
brings the turns back within the recording.

Screenshots of the capture (during a turn) and of the result go to ``docs/img/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.services import liveness
from lifecycle.services.enrollment import person_enroll
from registry.models import AssuranceLevel, Person
from registry.services import person_create
from tests.lifecycle import liveness_clips as clips
from tests.support import CHROMEDRIVER, CHROMIUM, NO_BROWSER_REASON, headless_chromium

PASSWORD = "correct horse battery staple"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=NO_BROWSER_REASON),
]


def _camera_file(challenge: list[str], directory: Path) -> Path:
    frames = clips.challenge_frames(challenge, lead_s=1.5)
    path, start, end = clips.SEGMENTS["man"]["frontal"]
    tail = clips.frames_between(path, start, end)
    frames += tail * 5  # ten seconds of looking at the camera after the turns
    return clips.write_y4m(frames, directory / "camera.y4m")


def test_a_person_records_the_challenge_in_a_browser_and_reaches_liveness(live_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    person = person_create(email="camera@example.org", display_name="Camera", password=PASSWORD)
    assert len(person_enroll(person=person, images=clips.reference_photos()).accepted) == 3
    attempt = liveness.liveness_challenge_create(person=person)
    camera = _camera_file(attempt.challenge, tmp_path)

    with headless_chromium(
        extra_arguments=(
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}",
            "--autoplay-policy=no-user-gesture-required",
        )
    ) as driver:
        wait = WebDriverWait(driver, 120)
        driver.get(f"{live_server.url}/login/")
        driver.find_element(By.ID, "id_username").send_keys("camera@example.org")
        driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait.until(expected_conditions.url_contains("/me/"))

        driver.get(f"{live_server.url}/me/liveness/")
        driver.execute_script(
            "window.__errors = [];"
            "window.addEventListener('error', e => window.__errors.push(String(e.message)));"
            "const original = console.error;"
            "console.error = (...a) => { window.__errors.push(a.join(' ')); original(...a); };"
        )
        driver.find_element(By.ID, "liveness-start").click()
        wait.until(
            expected_conditions.presence_of_element_located(
                (By.CSS_SELECTOR, "#liveness-prompt.turn:not([hidden])")
            )
        )
        DOCS_IMG.mkdir(exist_ok=True)
        driver.save_screenshot(str(DOCS_IMG / "liveness-capture.png"))

        result = wait.until(
            expected_conditions.presence_of_element_located(
                (By.CSS_SELECTOR, "#liveness-result[data-outcome]")
            )
        )
        driver.execute_script("document.getElementById('liveness-result').scrollIntoView()")
        driver.save_screenshot(str(DOCS_IMG / "liveness-result.png"))
        assert result.get_attribute("data-outcome") == "passed", result.text
        assert "Passed a live selfie capture" in driver.find_element(By.ID, "liveness-level").text
        assert driver.execute_script("return window.__errors") == []

    person = Person.objects.get(pk=person.pk)
    assert person.assurance == AssuranceLevel.LIVENESS
    attempt.refresh_from_db()
    assert attempt.outcome == "passed"
