"""The RFC 9162 verifiers agree with every transparency-dev/merkle test vector."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from consent.lib.merkle import ConsistencyProof, InclusionProof, ProofError

REPO_ROOT = Path(__file__).resolve().parents[2]

VECTORS_DIR = Path(
    os.environ.get(
        "MERKLE_VECTORS_DIR", Path(__file__).resolve().parents[3] / "shared" / "merkle-vectors"
    )
)
INCLUSION = sorted((VECTORS_DIR / "inclusion").glob("*/*.json"))
CONSISTENCY = sorted((VECTORS_DIR / "consistency").glob("*/*.json"))


def vector_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def verdict(proof_class, path: Path) -> tuple[bool, str]:
    try:
        proof_class.from_json(json.loads(path.read_text())).verify()
    except ProofError as error:
        return False, str(error)
    return True, "valid"


def test_the_shared_vectors_are_all_present():
    # The README promises 98 files: 96 cases, the README itself and the licence.
    assert len(INCLUSION) == 53
    assert len(CONSISTENCY) == 43
    assert len([path for path in VECTORS_DIR.rglob("*") if path.is_file()]) == 98


@pytest.mark.parametrize("path", INCLUSION, ids=vector_id)
def test_inclusion_vector(path):
    case = json.loads(path.read_text())
    ok, reason = verdict(InclusionProof, path)
    assert ok is not case["wantErr"], f"{case['desc']}: {reason}"


@pytest.mark.parametrize("path", CONSISTENCY, ids=vector_id)
def test_consistency_vector(path):
    case = json.loads(path.read_text())
    ok, reason = verdict(ConsistencyProof, path)
    assert ok is not case["wantErr"], f"{case['desc']}: {reason}"


def test_the_happy_paths_are_accepted_and_a_flipped_bit_anywhere_is_rejected():
    happy = [p for p in INCLUSION + CONSISTENCY if p.stem == "happy-path"]
    assert len(happy) == 6
    for path in happy:
        case = json.loads(path.read_text())
        proof_class = InclusionProof if "leafIdx" in case else ConsistencyProof
        proof_class.from_json(case).verify()
        for field in ("root", "leafHash", "root1", "root2"):
            if field not in case:
                continue
            tampered = dict(case)
            raw = bytearray(base64.b64decode(case[field]))
            raw[-1] ^= 1
            tampered[field] = base64.b64encode(bytes(raw)).decode()
            with pytest.raises(ProofError):
                proof_class.from_json(tampered).verify()


def run_command(kind: str, path: Path) -> tuple[bool, str]:
    out = io.StringIO()
    try:
        call_command("verify_proof", kind, str(path), stdout=out)
    except CommandError as error:
        return False, str(error)
    return True, out.getvalue().strip()


@pytest.mark.parametrize("path", INCLUSION, ids=vector_id)
def test_the_verify_proof_command_agrees_with_inclusion_vector(path):
    ok, line = run_command("inclusion", path)
    assert ok is not json.loads(path.read_text())["wantErr"], line
    assert "\n" not in line
    assert line.startswith("valid: " if ok else "invalid: ")


@pytest.mark.parametrize("path", CONSISTENCY, ids=vector_id)
def test_the_verify_proof_command_agrees_with_consistency_vector(path):
    ok, line = run_command("consistency", path)
    assert ok is not json.loads(path.read_text())["wantErr"], line
    assert "\n" not in line


def test_the_verify_proof_command_rejects_unreadable_files(tmp_path):
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert run_command("inclusion", garbage)[0] is False
    assert run_command("inclusion", tmp_path / "missing.json")[0] is False
    wrong_kind = CONSISTENCY[0]
    ok, line = run_command("inclusion", wrong_kind)
    assert not ok
    assert "lacks" in line


@pytest.mark.parametrize(
    ("kind", "path", "status"),
    [
        ("inclusion", VECTORS_DIR / "inclusion/1/happy-path.json", 0),
        ("inclusion", VECTORS_DIR / "inclusion/1/modified-proof[1]-bit-@3.json", 1),
        ("consistency", VECTORS_DIR / "consistency/2/happy-path.json", 0),
        ("consistency", VECTORS_DIR / "consistency/2/swapped-roots.json", 1),
    ],
    ids=["inclusion-valid", "inclusion-invalid", "consistency-valid", "consistency-invalid"],
)
def test_the_verify_proof_command_exit_status_from_a_shell(kind, path, status):
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_proof", kind, str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == status, result.stderr
    output = (result.stdout if status == 0 else result.stderr).strip()
    assert len(output.splitlines()) == 1, output
    assert ("valid: " if status == 0 else "invalid: ") in output
