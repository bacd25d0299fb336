"""``manage.py enroll_batch`` enrolls a roster line by line; bad lines are reported and skipped."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from consent.models import Record, RecordKind
from registry.models import FaceTemplate, Person

pytestmark = pytest.mark.django_db


def _run(roster: Path, *args: str) -> tuple[int, list[dict], str]:
    out, err = StringIO(), StringIO()
    status = 0
    try:
        call_command("enroll_batch", str(roster), *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        status = exit_.code
    return status, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def _roster(path: Path, *lines: dict | str) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def test_a_roster_of_good_lines_enrolls_everyone_and_exits_zero(faces_dir: Path, tmp_path: Path):
    people = faces_dir / "people"
    roster = _roster(
        tmp_path / "roster.jsonl",
        {
            "name": "Kit Example",
            "email": "Kit@Example.org",
            "photos": [
                str(people / "kit_harington/kit1.jpg"),
                str(faces_dir / "group/kit_with_rose.jpg"),
            ],
        },
        {
            "name": "Rose Example",
            "email": "rose@example.org",
            "photos": [str(people / "rose_leslie/rose1.jpg")],
            "optout": True,
        },
    )

    status, lines, progress = _run(roster)

    assert status == 0
    kit, rose = lines
    kit_person = Person.objects.get(user__email="kit@example.org")
    assert kit == {
        "line": 1,
        "email": "kit@example.org",
        "subject": kit_person.public_id,
        "templates": 1,
        "accepted": 1,
        "rejected": [
            {"file": str(faces_dir / "group/kit_with_rose.jpg"), "reason": "two faces found"}
        ],
        "created": True,
        "optout": None,
        "status": "active",
        "conflicts": 0,
    }
    rose_person = Person.objects.get(public_id=rose["subject"])
    assert rose["line"] == 2 and rose["templates"] == 1 and rose["created"] is True
    assert (
        rose["optout"] == Record.objects.get(person=rose_person, kind=RecordKind.OPTOUT).record_id
    )
    assert "2/2 people" in progress and "photos/s" in progress


def test_bad_lines_get_an_error_line_and_the_others_are_kept(faces_dir: Path, tmp_path: Path):
    kit = str(faces_dir / "people/kit_harington/kit1.jpg")
    (tmp_path / "notes.jpg").write_text("meeting notes, not a photo\n" * 10)
    roster = _roster(
        tmp_path / "roster.jsonl",
        {"name": "Kit Example", "email": "kit@example.org", "photos": [kit]},
        '{"name": "Broken", "email": "broken@example.org", "photos": [',
        {"name": "No Photos", "email": "nophotos@example.org"},
        {"name": "Typed", "email": "typed@example.org", "photos": [kit], "optout": "yes"},
        {"name": "Typo", "email": "typo@example.org", "photos": [kit], "opt_out": True},
        {"name": "Not Email", "email": "not-an-email", "photos": [kit]},
        {"name": "Missing", "email": "missing@example.org", "photos": ["gone/missing.jpg"]},
        "",
        {"name": "Notes", "email": "notes@example.org", "photos": ["notes.jpg"], "optout": True},
        {
            "name": "Biden",
            "email": "biden@example.org",
            "photos": [str(faces_dir / "people/biden/biden.jpg")],
        },
    )

    status, lines, _progress = _run(roster)

    assert status == 2
    assert [line["line"] for line in lines] == [1, 2, 3, 4, 5, 6, 7, 9, 10]
    by_line = {line["line"]: line for line in lines}
    assert by_line[1]["templates"] == 1 and "error" not in by_line[1]
    assert by_line[10]["templates"] == 1 and by_line[10]["email"] == "biden@example.org"
    assert by_line[2] == {"line": 2, "error": by_line[2]["error"]}
    assert by_line[2]["error"].startswith("not valid JSON")
    assert by_line[3] == {
        "line": 3,
        "email": "nophotos@example.org",
        "error": "missing field(s): photos",
    }
    assert by_line[4]["error"] == "optout must be true or false"
    assert by_line[5]["error"] == "unknown field(s): opt_out"
    assert by_line[6] == {
        "line": 6,
        "email": "not-an-email",
        "error": "not an email address: 'not-an-email'",
    }
    # The operator's own relative path, resolved beside the roster, and nothing of the server's.
    assert by_line[7]["error"] == "cannot read gone/missing.jpg: No such file or directory"
    assert str(tmp_path) not in json.dumps(lines)
    assert by_line[9]["email"] == "notes@example.org"
    assert by_line[9]["error"] == "no photo accepted (notes.jpg: not an image)"

    emails = set(Person.objects.values_list("user__email", flat=True))
    assert emails == {"kit@example.org", "biden@example.org"}
    # The rejected line's opt-out was not recorded: nothing of that line was kept.
    assert not Record.objects.filter(kind=RecordKind.OPTOUT).exists()
    assert FaceTemplate.objects.count() == 2


def test_a_later_line_with_the_same_email_adds_to_that_person(faces_dir: Path, tmp_path: Path):
    shutil.copy(faces_dir / "people/kit_harington/kit1.jpg", tmp_path / "kit1.jpg")
    shutil.copy(faces_dir / "people/kit_harington/kit2.jpg", tmp_path / "kit2.jpg")
    roster = _roster(
        tmp_path / "roster.jsonl",
        {"name": "Kit", "email": "kit@example.org", "photos": ["kit1.jpg"], "optout": False},
        {"name": "Kit", "email": "KIT@example.org", "photos": ["kit2.jpg"]},
    )

    status, (first, second), _ = _run(roster, "--verbosity", "0")

    assert status == 0
    assert first["created"] is True and second["created"] is False
    assert first["subject"] == second["subject"]
    assert second["templates"] == 2


def test_verbosity_zero_prints_no_progress(faces_dir: Path, tmp_path: Path):
    roster = _roster(
        tmp_path / "roster.jsonl",
        {"name": "Bad", "email": "bad@example.org", "photos": ["nowhere.jpg"]},
    )
    status, lines, progress = _run(roster, "--verbosity", "0")
    assert status == 2 and len(lines) == 1
    assert progress == ""


def test_an_unreadable_roster_stops_before_anything_is_enrolled(tmp_path: Path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("enroll_batch", str(tmp_path / "absent.jsonl"), stdout=StringIO())
    assert not Person.objects.exists()
