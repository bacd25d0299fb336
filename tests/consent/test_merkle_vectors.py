"""The RFC 9162 verifiers agree with every transparency-dev/merkle test vector."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from consent.lib.merkle import ConsistencyProof, InclusionProof, ProofError

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
