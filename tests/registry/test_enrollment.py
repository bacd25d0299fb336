"""Enrollment: one face of usable size and quality per photo, a clear reason for every refusal."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lifecycle.services import person_enroll
from registry.lib.photo_crypto import decrypt_photo
from registry.lib.template_protection import unprotect
from registry.models import FaceTemplate, ReferencePhoto
from registry.selectors import current_template_key_version, template_key
from registry.services import person_update, template_delete

pytestmark = pytest.mark.django_db


def _reason(person, filename, data):
    result = person_enroll(person=person, images=[(filename, data)])
    (outcome,) = result.photos
    assert not outcome.accepted
    return outcome.reason


def test_a_good_photo_becomes_one_protected_template(make_person, photo):
    person = make_person()
    result = person_enroll(person=person, images=[("obama.jpg", photo("obama/obama.jpg"))])
    (outcome,) = result.photos
    assert outcome.accepted and outcome.reason is None
    template = FaceTemplate.objects.get(person=person)
    assert template.key_version == current_template_key_version()
    assert template.model_name and template.model_version
    assert 0 < template.quality <= 1
    assert template.face_px >= 80
    # Deleted by default: nothing of the photo is stored.
    assert not ReferencePhoto.objects.filter(person=person).exists()
    person.refresh_from_db()
    assert person.templates_confirmed_at is not None


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("two_faces", "two faces found"),
        ("blurry", "too blurry"),
        ("text", "not an image"),
        ("no_face", "no face found"),
        ("truncated", "the image is truncated or corrupt"),
    ],
)
def test_each_rejection_has_its_own_reason(make_person, derived, kind, expected):
    person = make_person()
    assert _reason(person, f"{kind}.jpg", derived[kind]) == expected
    assert not FaceTemplate.objects.filter(person=person).exists()


def test_a_small_face_says_how_small_and_what_is_needed(make_person, derived):
    reason = _reason(make_person(), "small.jpg", derived["small"])
    match = re.fullmatch(r"face too small: (\d+) px, need 80", reason)
    assert match, reason
    assert 45 <= int(match.group(1)) <= 60


def test_a_decompression_bomb_is_refused_without_decoding(make_person, derived):
    reason = _reason(make_person(), "bomb.png", derived["bomb"])
    assert reason.startswith("image too large: The image is 20000x20000")


def test_other_image_formats_are_named(make_person, derived):
    assert _reason(make_person(), "x.gif", derived["gif"]).startswith("not an image we accept: GIF")


def test_an_oversized_file_is_refused(make_person, photo, settings):
    settings.MAX_IMAGE_BYTES = 50_000
    assert _reason(make_person(), "big.jpg", photo("obama/obama.jpg")).startswith("file too large:")


def test_partial_success_keeps_the_good_photos(make_person, photo, derived):
    person = make_person()
    result = person_enroll(
        person=person,
        images=[
            ("a.jpg", photo("obama/obama.jpg")),
            ("b.jpg", derived["two_faces"]),
            ("c.jpg", photo("obama/obama2.jpg")),
        ],
    )
    assert [p.accepted for p in result.photos] == [True, False, True]
    assert result.photos[1].reason == "two faces found"
    assert result.templates_total == 2
    assert FaceTemplate.objects.filter(person=person).count() == 2


def test_at_most_ten_photos(make_person, photo, settings):
    person = make_person()
    # Eleven different pictures of one face (the same picture twice is refused as a duplicate).
    variants = [resized(photo("obama/obama.jpg"), 1.0 - 0.04 * i) for i in range(12)]
    result = person_enroll(person=person, images=[(f"{i}.jpg", variants[i]) for i in range(11)])
    assert len(result.accepted) == 10
    assert result.photos[10].reason == "limit reached: at most 10 photos per person"
    more = person_enroll(person=person, images=[("x.jpg", variants[11])])
    assert more.photos[0].reason.startswith("limit reached")
    assert FaceTemplate.objects.filter(person=person).count() == 10


def test_kept_photos_are_stored_encrypted_and_deleted_with_their_template(make_person, photo):
    person = make_person()
    person_update(person=person, keep_photos=True)
    data = photo("obama/obama.jpg")
    result = person_enroll(person=person, images=[("obama.jpg", data)])
    stored = ReferencePhoto.objects.get(person=person)
    ciphertext = bytes(stored.ciphertext)
    assert data[:64] not in ciphertext and stored.content_type == "image/jpeg"
    from django.conf import settings

    assert (
        decrypt_photo(ciphertext, key=settings.PHOTO_ENCRYPTION_KEY, owner=person.public_id) == data
    )
    template_delete(person=person, template_id=result.photos[0].template_id)
    assert not ReferencePhoto.objects.filter(person=person).exists()
    assert not FaceTemplate.objects.filter(person=person).exists()


def test_the_stored_template_is_the_rotated_embedding(make_person, photo):
    from matching.engine import get_engine
    from matching.lib.imaging import decode_image

    person = make_person()
    data = photo("kit_harington/kit1.jpg")
    person_enroll(person=person, images=[("kit.jpg", data)])
    template = FaceTemplate.objects.get(person=person)
    (face,) = get_engine().analyse(decode_image(data, max_pixels=40_000_000))
    assert np.linalg.norm(template.embedding - face.vector) > 0.5
    restored = unprotect(template.embedding, template_key(template.key_version))
    assert np.allclose(restored, face.vector, atol=1e-4)


def test_a_person_can_only_delete_their_own_photos(make_person, photo):
    from registry.lib.errors import NotFound

    owner, other = make_person(), make_person()
    result = person_enroll(person=owner, images=[("a.jpg", photo("obama/obama.jpg"))])
    with pytest.raises(NotFound):
        template_delete(person=other, template_id=result.photos[0].template_id)
    assert FaceTemplate.objects.filter(person=owner).count() == 1


def test_a_photo_of_someone_else_is_refused(make_person, photo):
    """Nobody can add another person's face to their own templates (and so to their opt-out)."""
    person = make_person()
    first = person_enroll(
        person=person,
        images=[
            ("me.jpg", photo("obama/obama.jpg")),
            ("someone.jpg", photo("biden/biden.jpg")),
            ("me-again.jpg", photo("obama/obama2.jpg")),
        ],
    )
    assert [p.accepted for p in first.photos] == [True, False, True]
    assert re.fullmatch(
        r"a different face from this person's other photos \(distance 0\.\d\d, at most 0\.\d\d\)",
        first.photos[1].reason,
    ), first.photos[1].reason
    # Later uploads are compared with the stored templates.
    later = person_enroll(person=person, images=[("b.jpg", photo("biden/biden2.jpg"))])
    assert not later.photos[0].accepted
    assert later.photos[0].reason.startswith("a different face")
    assert FaceTemplate.objects.filter(person=person).count() == 2


def test_the_same_photo_sent_twice_is_refused_as_a_duplicate(make_person, photo):
    person = make_person()
    first = person_enroll(person=person, images=[("a.jpg", photo("obama/obama.jpg"))])
    assert len(first.accepted) == 1
    again = person_enroll(
        person=person,
        images=[("a-again.jpg", photo("obama/obama.jpg")), ("b.jpg", photo("obama/obama2.jpg"))],
    )
    (duplicate, other) = again.photos
    assert not duplicate.accepted
    assert duplicate.reason == "this photo is already registered (send a different photo)"
    assert other.accepted
    # Twice in one upload: the second copy is the duplicate.
    both = person_enroll(
        person=make_person("Twice"),
        images=[("x.jpg", photo("biden/biden.jpg")), ("y.jpg", photo("biden/biden.jpg"))],
    )
    assert [p.accepted for p in both.photos] == [True, False]


def resized(data: bytes, scale: float) -> bytes:
    """The same photo at another size: a different picture of the same face for the engine."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    image.resize((int(image.width * scale), int(image.height * scale))).save(
        out, "JPEG", quality=90
    )
    return out.getvalue()
