"""Receipts stay verifiable offline: unlogged platform receipts, and all after a key rotation."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from consent import services
from consent.lib.receipts import ReceiptInvalid, verify_receipt
from tests.consent.records_factories import make_org, make_person

pytestmark = pytest.mark.django_db
REPO_ROOT = Path(__file__).resolve().parents[2]


def keys_json() -> dict:
    return APIClient().get("/.well-known/likeness-registry/keys.json").json()


def test_a_signed_receipt_verifies_in_a_fresh_process(tmp_path):
    receipt = services.receipt_sign(
        kind="media_check", body={"verdict": "opted_out", "categories": ["political"]}
    )
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "keys.json").write_text(json.dumps(keys_json()))
    receipt["payload"]["body"]["verdict"] = "clear"
    (tmp_path / "forged.json").write_text(json.dumps(receipt))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    env["PYTHONPATH"] = str(REPO_ROOT)

    def run(name: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "consent.lib.receipts", name, "keys.json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = run("receipt.json")
    assert good.returncode == 0 and good.stdout.startswith("VALID"), good.stdout + good.stderr
    forged = run("forged.json")
    assert forged.returncode == 1 and forged.stdout.startswith("INVALID"), forged.stdout


def test_receipts_signed_before_a_key_rotation_still_verify_after_it():
    person, studio = make_person(), make_org("studio")
    services.grant_record(
        person=person,
        organisation=studio,
        purpose="Ad",
        categories=["commercial"],
        media_types=["image"],
        territory="worldwide",
    )
    _, before = services.consent_check(organisation=studio, person=person, category="commercial")
    signed_before = services.receipt_sign(kind="media_check", body={"verdict": "clear"})
    services.signing_key_rotate()
    _, after = services.consent_check(organisation=studio, person=person, category="commercial")
    keys = keys_json()
    assert {key["status"] for key in keys["keys"]} == {"current", "retired"}
    for receipt in (before, signed_before, after):
        verify_receipt(receipt, keys)
    assert before["envelope"]["signatures"][0]["kid"] != after["envelope"]["signatures"][0]["kid"]
    # Without the retired key, the old receipt cannot be verified.
    current_only = {"keys": [key for key in keys["keys"] if key["status"] == "current"]}
    with pytest.raises(ReceiptInvalid):
        verify_receipt(before, current_only)


def test_a_receipt_is_not_accepted_as_another_kind_of_document():
    person, studio = make_person(), make_org("studio")
    _, receipt = services.consent_check(organisation=studio, person=person, category="training")
    keys = keys_json()
    with pytest.raises(ReceiptInvalid):
        verify_receipt(receipt["envelope"], keys)  # a logged envelope is not a signed receipt
    with pytest.raises(ReceiptInvalid):
        verify_receipt({**receipt, "format": "something/else"}, keys)
    with pytest.raises(ReceiptInvalid):
        verify_receipt(receipt, {"keys": []})


def test_manage_py_verify_receipt(tmp_path):
    from django.core.management import CommandError, call_command

    person, studio = make_person(), make_org("studio")
    _, receipt = services.consent_check(organisation=studio, person=person, category="political")
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    out = io.StringIO()
    call_command("verify_receipt", str(path), stdout=out)
    assert out.getvalue().startswith("valid: receipt chk_") and "not_consented" in out.getvalue()
    (tmp_path / "keys.json").write_text(json.dumps(keys_json()))
    call_command("verify_receipt", str(path), "--keys", str(tmp_path / "keys.json"), stdout=out)
    path.write_text(json.dumps(receipt).replace("not_consented", "consented"))
    with pytest.raises(CommandError, match="invalid"):
        call_command("verify_receipt", str(path))
