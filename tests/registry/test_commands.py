"""``manage.py enroll`` prints one JSON line; ``--optout`` records a signed general opt-out."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.models import FaceTemplate, Person

pytestmark = pytest.mark.django_db


def _enroll(*args: str) -> tuple[dict, str]:
    out = StringIO()
    try:
        call_command("enroll", *args, stdout=out)
    except SystemExit as exit_:
        assert exit_.code == 2
    text = out.getvalue()
    lines = text.splitlines()
    assert len(lines) == 1, text
    return json.loads(lines[0]), text


def test_enroll_creates_a_person_then_adds_to_them(faces_dir: Path):
    people = faces_dir / "people"
    line, _ = _enroll(
        "--name",
        "Kit Example",
        "--email",
        "kit@example.org",
        str(people / "kit_harington/kit1.jpg"),
        str(people / "kit_harington/kit2.jpg"),
        str(faces_dir / "group/kit_with_rose.jpg"),
    )
    person = Person.objects.get(user__email="kit@example.org")
    assert line["subject"] == person.public_id
    assert line["templates"] == 2 and line["created"] is True and line["optout"] is None
    assert line["rejected"] == [{"file": "kit_with_rose.jpg", "reason": "two faces found"}]

    again, _ = _enroll(
        "--name",
        "Kit Example",
        "--email",
        "KIT@example.org",
        str(people / "kit_harington/kit3.jpg"),
    )
    assert again["subject"] == person.public_id and again["created"] is False
    assert again["templates"] == 3
    assert FaceTemplate.objects.filter(person=person).count() == 3
    assert person.display_name == "Kit Example"


def test_enroll_with_optout_records_a_general_optout(faces_dir: Path):
    from consent.models import Record, RecordKind

    line, _ = _enroll(
        "--name",
        "Rose Example",
        "--email",
        "rose@example.org",
        "--optout",
        str(faces_dir / "people/rose_leslie/rose1.jpg"),
    )
    person = Person.objects.get(public_id=line["subject"])
    record = Record.objects.get(person=person, kind=RecordKind.OPTOUT)
    assert line["optout"] == record.record_id
    assert line["templates"] == 1


def test_enroll_with_no_usable_photo_still_prints_one_line_and_fails(tmp_path: Path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo\n" * 10)
    line, _ = _enroll("--name", "N", "--email", "n@example.org", str(notes))
    assert line["templates"] == 0
    assert line["rejected"] == [{"file": "notes.jpg", "reason": "not an image"}]


def test_enroll_refuses_a_missing_file(tmp_path: Path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("enroll", "--name", "N", "--email", "m@example.org", str(tmp_path / "x"))
    assert not Person.objects.exists()


def test_rotate_template_key_refuses_an_unknown_version():
    with pytest.raises(CommandError, match="not configured"):
        call_command("rotate_template_key", "--to", "99", stdout=StringIO())
