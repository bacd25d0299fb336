"""manage.py scan: one JSON line per file with real subject ids; exit 0 unless a file fails."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from registry.models import AssuranceLevel, Person
from tests.matching.checks_fixtures import FACES

pytestmark = pytest.mark.django_db


def enroll(name: str, *photos: str, optout: bool = True) -> str:
    out = io.StringIO()
    args = ["enroll", "--name", name, "--email", f"{name}@example.test"]
    if optout:
        args.append("--optout")
    call_command(*args, *[str(FACES / "people" / p) for p in photos], stdout=out)
    from matching.selectors import template_key_versions_forget

    template_key_versions_forget()
    subject = json.loads(out.getvalue())["subject"]
    # At liveness, so that a match blocks under the default policy (test_assurance_verdicts
    # covers the lower levels).
    Person.objects.filter(public_id=subject).update(assurance=AssuranceLevel.LIVENESS)
    return subject


def scan(*paths: str, use: str | None = None) -> tuple[list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    args = ["scan", "--json", *(["--use", use] if use else [])]
    call_command(*args, *paths, stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_scan_names_opted_out_people_by_subject_id_in_photos_and_groups():
    obama = enroll("obama", "obama/obama.jpg", "obama/obama2.jpg")
    biden = enroll("biden", "biden/biden.jpg")
    kit = enroll("kit", "kit_harington/kit1.jpg", optout=False)
    files = [
        str(FACES / "people/obama/obama3.jpg"),
        str(FACES / "group/two_people.jpg"),
        str(FACES / "people/kit_harington/kit2.jpg"),
        str(FACES / "people/rose_leslie/rose1.jpg"),
    ]
    lines, progress = scan(*files)
    assert [line["file"] for line in lines] == files
    single, group, kit_photo, stranger = lines
    assert single["verdict"] == "blocked" and single["faces"] == 1
    (match,) = single["matches"]
    assert match["subject"] == obama
    assert 0 < match["distance"] < 0.6
    assert len(match["box"]) == 4 and match["time_s"] is None
    assert {m["subject"] for m in group["matches"]} == {obama, biden}
    assert kit_photo == {"file": files[2], "verdict": "clear", "faces": 1, "matches": []}
    assert kit not in json.dumps(lines)
    assert stranger["matches"] == [] and stranger["verdict"] == "clear"
    assert "[1/4]" in progress and "[4/4]" in progress  # progress on stderr, not stdout


def test_scan_respects_the_use_category():
    out = io.StringIO()
    call_command(
        "enroll", "--name", "obama", "--email", "o@example.test",
        str(FACES / "people/obama/obama.jpg"), stdout=out,
    )  # fmt: skip
    from consent.services import optout_record
    from matching.selectors import template_key_versions_forget
    from registry.models import Person

    Person.objects.update(assurance=AssuranceLevel.LIVENESS)
    optout_record(person=Person.objects.get(), categories=["political"])
    template_key_versions_forget()
    photo = str(FACES / "people/obama/obama3.jpg")
    assert scan(photo, use="commercial")[0][0]["verdict"] == "clear"
    assert scan(photo, use="political")[0][0]["verdict"] == "blocked"
    assert scan(photo)[0][0]["verdict"] == "blocked"  # no --use: any opt-out counts


def test_a_file_that_cannot_be_checked_is_reported_and_fails_the_command(tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo\n" * 10)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 of 2"):
        call_command(
            "scan", "--json", str(notes), str(FACES / "people/rose_leslie/rose1.jpg"),
            stdout=out, stderr=err,
        )  # fmt: skip
    bad, good = [json.loads(line) for line in out.getvalue().splitlines()]
    assert bad["file"] == str(notes)
    assert bad["error"]["code"] == "unsupported_media_type"
    assert good["verdict"] == "clear"


@pytest.mark.slow
def test_scan_reports_video_tracks_with_their_time_span():
    lin = enroll("lin", "lin_manuel_miranda/lin1.png")
    (line,), _progress = scan(str(FACES / "video/short_hamilton_clip.mp4"))
    assert line["verdict"] == "blocked"
    assert line["faces"] >= 2  # Lin and the unregistered face from about 7.5 s
    (match,) = [m for m in line["matches"] if m["subject"] == lin]
    assert match["time_s"] < 1.0
    assert match["end_s"] > 5.0
