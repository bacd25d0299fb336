"""``manage.py templates_reenroll`` moves kept photos' people to the active engine's model."""

from __future__ import annotations

import json
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from lifecycle.services import person_enroll, roster_entry_enroll
from matching.engine import get_engine, reset_engine
from matching.engine.dlib import DlibFaceEngine
from matching.lib.imaging import decode_image
from matching.selectors import faces_nearest, template_key_versions_forget
from registry.models import FaceTemplate, Person, ReferencePhoto
from registry.services import person_update

pytestmark = pytest.mark.django_db


class RenamedDlibEngine(DlibFaceEngine):
    """dlib's vectors under another model name: a new model of the same length."""

    name = "dlib-renamed-for-reenrollment-tests"


class WideDlibEngine(DlibFaceEngine):
    """A model whose vectors do not fit the 128-number column."""

    name = "dlib-wide-for-reenrollment-tests"
    dimensions = 512


RENAMED = "tests.lifecycle.test_templates_reenroll.RenamedDlibEngine"
WIDE = "tests.lifecycle.test_templates_reenroll.WideDlibEngine"


@contextmanager
def active_engine(dotted_path: str):
    """``FACE_ENGINE_BACKEND`` switched, as an operator would, for the block."""
    with override_settings(FACE_ENGINE_BACKEND=dotted_path):
        reset_engine()
        try:
            yield get_engine()
        finally:
            reset_engine()


@pytest.fixture(autouse=True)
def _fresh_engine():
    reset_engine()
    template_key_versions_forget()
    yield
    reset_engine()
    template_key_versions_forget()


@pytest.fixture
def photo(faces_dir: Path):
    return lambda relative: (faces_dir / "people" / relative).read_bytes()


def _run(*args: str) -> tuple[dict, str]:
    out, err = StringIO(), StringIO()
    call_command("templates_reenroll", *args, stdout=out, stderr=err)
    (line,) = out.getvalue().splitlines()
    return json.loads(line), err.getvalue()


def _person(name: str, email: str, photos: list[tuple[str, bytes]], *, keep: bool) -> Person:
    entry = roster_entry_enroll(name=name, email=email, images=[], optout=True)
    person = entry.person
    if keep:
        person_update(person=person, keep_photos=True)
        person.refresh_from_db()
    person_enroll(person=person, images=photos)
    return person


def _probe(data: bytes) -> np.ndarray:
    (face,) = get_engine().analyse(decode_image(data, max_pixels=40_000_000))
    return np.asarray(face.vector)


@pytest.fixture
def registry(photo):
    """Enrolled under dlib, each with a general opt-out: two who kept photos, one who did not."""
    obama = _person(
        "Kept Two",
        "two@example.org",
        [("a.jpg", photo("obama/obama.jpg")), ("b.jpg", photo("obama/obama2.jpg"))],
        keep=True,
    )
    kit = _person(
        "Kept One", "one@example.org", [("k.jpg", photo("kit_harington/kit1.jpg"))], keep=True
    )
    biden = _person(
        "Kept None", "none@example.org", [("b.jpg", photo("biden/biden.jpg"))], keep=False
    )
    return obama, kit, biden


def test_people_who_kept_photos_move_to_the_new_model_and_the_others_are_counted(registry, photo):
    obama, kit, biden = registry
    old_model = DlibFaceEngine.name
    biden_templates = set(biden.templates.values_list("pk", flat=True))
    obama_probe, biden_probe = _probe(photo("obama/obama3.jpg")), _probe(photo("biden/biden2.jpg"))

    with active_engine(RENAMED) as engine:
        # Before the move, checks with the new model find nobody: the old templates are not
        # comparable with its vectors.
        assert faces_nearest(embedding=obama_probe, limit=3, exact=True) == []

        summary, progress = _run()

        assert summary == {"reenrolled": 2, "templates": 3, "needs_new_photos": 1, "failed": 0}
        assert "3/3 people" in progress
        for person, kept in ((obama, 2), (kit, 1)):
            templates = list(person.templates.all())
            assert len(templates) == kept
            assert {t.model_name for t in templates} == {engine.name}
            assert all(t.opted_out for t in templates)  # synced with the person's opt-out
            # The kept photos moved to the new templates.
            photos = ReferencePhoto.objects.filter(person=person)
            assert photos.count() == kept
            assert {p.template_id for p in photos} == {t.pk for t in templates}
        # Without kept photos the old templates stay, for the old model only.
        assert set(biden.templates.values_list("pk", flat=True)) == biden_templates
        assert set(biden.templates.values_list("model_name", flat=True)) == {old_model}

        # Checks with the new model find the re-enrolled person, on the index and exactly.
        for exact in (False, True):
            (best, *_rest) = faces_nearest(embedding=obama_probe, limit=3, exact=exact)
            assert best.person_id == obama.pk
            assert best.distance <= engine.threshold
        assert all(
            hit.person_id != biden.pk
            for hit in faces_nearest(embedding=biden_probe, limit=5, exact=True)
        )
        assert faces_nearest(embedding=biden_probe, limit=1, model_name=old_model)[0].person_id == (
            biden.pk
        )

        before = sorted(FaceTemplate.objects.values_list("pk", "model_name", "person_id"))
        again, _progress = _run()
        assert again == {"reenrolled": 0, "templates": 0, "needs_new_photos": 1, "failed": 0}
        assert sorted(FaceTemplate.objects.values_list("pk", "model_name", "person_id")) == before


def test_the_summary_names_nobody_and_notify_asks_for_new_photos(registry):
    _obama, _kit, biden = registry
    with active_engine(RENAMED):
        summary, _progress = _run("--notify", "--verbosity", "0")
    assert summary["needs_new_photos"] == 1
    assert [message.to for message in mail.outbox] == [["none@example.org"]]
    assert "new photos" in mail.outbox[0].body
    assert biden.public_id not in json.dumps(summary)


def test_an_engine_whose_vectors_do_not_fit_the_column_is_refused(registry):
    before = sorted(FaceTemplate.objects.values_list("pk", "model_name"))
    with active_engine(WIDE), pytest.raises(CommandError, match="512-number"):
        _run()
    assert sorted(FaceTemplate.objects.values_list("pk", "model_name")) == before


def test_with_the_model_already_active_nothing_changes(registry):
    before = sorted(FaceTemplate.objects.values_list("pk", "model_name"))
    summary, _progress = _run()
    assert summary == {"reenrolled": 0, "templates": 0, "needs_new_photos": 0, "failed": 0}
    assert sorted(FaceTemplate.objects.values_list("pk", "model_name")) == before
