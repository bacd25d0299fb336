"""The database alone holds no raw embedding, yet search by the same person finds them; after a
key rotation searches still find every person and no row remains on the old key."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from lifecycle.services import person_enroll
from matching.engine import get_engine
from matching.lib.imaging import decode_image
from matching.selectors import faces_nearest, template_key_versions_forget
from registry.models import FaceTemplate

pytestmark = pytest.mark.django_db

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(100, 132))

ENROLL = {
    "obama": ["obama/obama.jpg", "obama/obama2.jpg"],
    "biden": ["biden/biden.jpg"],
    "kit": ["kit_harington/kit1.jpg", "kit_harington/kit2.jpg"],
    "rose": ["rose_leslie/rose1.jpg"],
}
PROBES = {
    "obama": "obama/obama3.jpg",
    "biden": "biden/biden2.jpg",
    "kit": "kit_harington/kit3.jpg",
    "rose": "rose_leslie/rose2.jpg",
}


def _embedding(data: bytes) -> np.ndarray:
    (face,) = get_engine().analyse(decode_image(data, max_pixels=40_000_000))
    return face.vector


def _raw_rows() -> list[tuple[int, int, np.ndarray]]:
    """Templates as the database holds them, read with plain SQL (no model, no key)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, key_version, embedding::text FROM {FaceTemplate._meta.db_table}"  # noqa: S608
        )
        rows = cursor.fetchall()
    return [
        (pk, version, np.array(json.loads(text.replace("{", "[").replace("}", "]")), np.float32))
        for pk, version, text in rows
    ]


@pytest.fixture
def keys(settings):
    settings.TEMPLATE_KEYS = {1: KEY_1}
    template_key_versions_forget()
    yield settings
    template_key_versions_forget()


@pytest.fixture
def enrolled(keys, make_person, photo):
    people = {}
    for name, files in ENROLL.items():
        person = make_person(name)
        result = person_enroll(person=person, images=[(f, photo(f)) for f in files])
        assert len(result.accepted) == len(files)
        people[name] = person
    return people


def _nearest_person(probe: np.ndarray) -> tuple[int, float]:
    (best, *_rest) = faces_nearest(embedding=probe, limit=5, exact=True)
    return best.person_id, best.distance


def test_sql_holds_no_raw_embedding_yet_search_finds_the_person(enrolled, photo):
    engine = get_engine()
    raw_by_template = {}
    for name, files in ENROLL.items():
        for template, file in zip(
            FaceTemplate.objects.filter(person=enrolled[name]).order_by("pk"), files, strict=True
        ):
            raw_by_template[template.pk] = _embedding(photo(file))

    rows = _raw_rows()
    assert len(rows) == len(raw_by_template)
    for pk, version, stored in rows:
        assert version == 1
        raw = raw_by_template[pk]
        # Not the engine's vector, not close to it, and not close to any other raw embedding:
        # the stored row matches nobody without the key.
        assert np.linalg.norm(stored - raw) > engine.review_threshold
        assert min(np.linalg.norm(stored - r) for r in raw_by_template.values()) > 0.68

    for name, probe_file in PROBES.items():
        person_id, distance = _nearest_person(_embedding(photo(probe_file)))
        assert person_id == enrolled[name].pk, name
        assert distance <= engine.threshold


def test_after_key_rotation_every_person_is_still_found_and_old_rows_are_gone(
    enrolled, photo, keys
):
    before = {pk: stored for pk, _v, stored in _raw_rows()}
    probes = {name: _embedding(photo(file)) for name, file in PROBES.items()}

    keys.TEMPLATE_KEYS = {1: KEY_1, 2: KEY_2}
    out = io.StringIO()
    call_command("rotate_template_key", "--batch-size", "1", stdout=out)
    assert json.loads(out.getvalue()) == {"version": 2, "moved": len(before), "remaining": 0}

    rows = _raw_rows()
    assert {version for _pk, version, _s in rows} == {2}
    for pk, _version, stored in rows:
        assert np.linalg.norm(stored - before[pk]) > 0.5  # the old protected rows are gone
    assert not FaceTemplate.objects.filter(key_version=1).exists()

    # The old key can now be removed; search needs only the new one.
    keys.TEMPLATE_KEYS = {2: KEY_2}
    template_key_versions_forget()
    for name, probe in probes.items():
        person_id, distance = _nearest_person(probe)
        assert person_id == enrolled[name].pk, name
        assert distance <= get_engine().threshold


def test_search_works_while_a_rotation_is_half_done(enrolled, photo, keys):
    from registry.services import templates_rekey

    keys.TEMPLATE_KEYS = {1: KEY_1, 2: KEY_2}
    # Move only obama's rows (as a batch of a running rotation would), then search.
    obama_rows = FaceTemplate.objects.filter(person=enrolled["obama"])
    others = list(
        FaceTemplate.objects.exclude(person=enrolled["obama"]).values_list("pk", "key_version")
    )
    from registry.lib.template_protection import reprotect

    for template in obama_rows:
        template.embedding = reprotect(template.embedding, KEY_1, KEY_2)
        template.key_version = 2
        template.save(update_fields=["embedding", "key_version"])
    assert all(version == 1 for _pk, version in others)
    template_key_versions_forget()
    for name, file in PROBES.items():
        person_id, _distance = _nearest_person(_embedding(photo(file)))
        assert person_id == enrolled[name].pk, name
    assert templates_rekey()["remaining"] == 0
