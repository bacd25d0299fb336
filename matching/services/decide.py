"""Deciding faces: who each face is (among people who opted out of the use) and the verdict.

``faces_decide`` searches the templates of people with an active opt-out covering the use,
decides per person over all of their templates (``match`` / ``possible`` / ``none``), weighs the
calling organisation's grants and names people only by ``opaque_reference``, a per-organisation
reference. The candidates and the opt-out / consent lookup it relies on are private here.

Every matched face carries the person's assurance level. A ``match`` blocks only when that
level reaches the checking organisation's policy (``Organisation.block_min_assurance``, by
default ``liveness``): an opt-out anyone could have made in a stranger's name asks for review
instead of stopping someone's legitimate work. So does the opt-out of a disputed registration
(another registration holds the same face), whatever its level.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from consent import selectors as consent_selectors
from consent.lib.uses import USE_CATEGORIES, category_check
from matching.engine import get_engine
from matching.models import Verdict
from matching.selectors import SqlSubquery, faces_nearest
from matching.services.media import FaceObservation
from registry.lib.errors import ValidationFailed
from registry.models import (
    AssuranceLevel,
    Organisation,
    Person,
    RegistrationStatus,
    assurance_at_least,
)

# How many templates one face's search returns: enough for several people's photos within the
# review band (a person holds a handful of templates).
HITS_PER_FACE = 20


def opaque_reference(*, organisation_id: int | None, person_id: int) -> str:
    """How an organisation knows a person: stable for it, unlinkable across organisations."""
    message = f"{organisation_id or 0}:{person_id}".encode()
    digest = hmac.new(settings.OPAQUE_REFERENCE_KEY, message, hashlib.sha256).hexdigest()
    return "ref_" + digest[:32]


_VERDICT_ORDER = [Verdict.BLOCKED, Verdict.NEEDS_REVIEW, Verdict.CONSENTED, Verdict.CLEAR]


def faces_decide(
    *,
    faces: list[FaceObservation],
    category: str | None,
    organisation: Organisation | None,
    operator: bool = False,
    media_type: str = "image",
) -> dict[str, Any]:
    """Per-face results and the overall verdict for ``category``.

    Only people with an active opt-out covering the category are candidates, read at the time
    of the call, so opt-outs, revocations and erasures count from the very next check. For a
    platform each matched person appears as an opaque reference; ``operator=True`` (the scan
    CLI) gives real public ids instead. The returned dict carries, under ``"_matched"``, the
    person ids for ``check_record`` / ``check_finish``; they strip it before anything leaves.
    An operator may leave ``category`` None: then anyone with any active opt-out is a candidate.
    """
    if category is None and not operator:
        raise ValidationFailed("A use category is required.", detail={"category": "required"})
    if category is not None:
        category_check(category)
    engine = get_engine()
    candidates = _candidates(category)
    now = timezone.now()

    searched = candidates_count(category)

    per_face: list[tuple[FaceObservation, Any]] = []
    for face in faces:
        vectors = np.asarray(face.vector, dtype=np.float32).reshape(-1, engine.dimensions)
        # Each template's distance is its smallest over the face's embeddings (several for a
        # video track); the rule then weighs all of a person's templates together.
        nearest_by_template: dict[int, tuple[int, float]] = {}
        for vector in vectors:
            for hit in faces_nearest(
                embedding=vector,
                limit=HITS_PER_FACE,
                person_ids=candidates,
                max_distance=engine.review_threshold,
                opted_out_only=True,
                # Only the active model's templates are comparable with the face's embeddings.
                model_name=engine.name,
            ):
                known = nearest_by_template.get(hit.template_id)
                if known is None or hit.distance < known[1]:
                    nearest_by_template[hit.template_id] = (hit.person_id, hit.distance)
        distances: dict[int, list[float]] = {}
        for person_id, distance in nearest_by_template.values():
            distances.setdefault(person_id, []).append(distance)
        decision = engine.decide(
            distances, candidates=searched, face_px=face.face_px, face_quality=face.quality
        )
        per_face.append((face, decision))

    matched_ids = sorted({d.person_id for _f, d in per_face if d.person_id is not None})
    rows = list(
        Person.objects.filter(pk__in=matched_ids).values_list(
            "pk", "public_id", "assurance", "registration_status"
        )
    )
    people = {pk: (public_id, assurance) for pk, public_id, assurance, _status in rows}
    # A disputed registration's opt-out asks for review, never blocks: its face is also
    # another person's, and until an operator decides we do not know whose decision it is.
    disputed = {pk for pk, _id, _level, status in rows if status == RegistrationStatus.DISPUTED}
    assurances = {pk: assurance for pk, (_public_id, assurance) in people.items()}
    scopes, consent = _scopes_and_consent(
        matched_ids, category, organisation, media_type, now, assurances
    )
    block_from = block_min_assurance(organisation)

    results, matched = [], []
    for face, decision in per_face:
        person_id = decision.person_id
        entry: dict[str, Any] = {"box": [int(v) for v in face.box]}
        if face.start_s is not None or face.end_s is not None:
            entry["start_s"] = None if face.start_s is None else round(float(face.start_s), 3)
            entry["end_s"] = None if face.end_s is None else round(float(face.end_s), 3)
        entry.update(face.extra)
        scope = scopes.get(person_id) if person_id is not None else None
        if person_id is None or scope is None:
            # Nobody's evidence reaches the review bar for this registry size (or the opt-out
            # was revoked meanwhile).
            entry.update(match="none", distance=None, verdict=Verdict.CLEAR.value)
            entry.update(optout=None, consent=None)
            if operator:
                entry["subject"] = None
            else:
                entry["reference"] = None
            results.append(entry)
            continue
        match = decision.match
        distance = decision.evidence["distance"]
        status, grant_id = consent[person_id]
        assurance = assurances.get(person_id, AssuranceLevel.SELF_ASSERTED)
        if status == "consented":
            verdict = Verdict.CONSENTED
        elif (
            match == "match"
            and assurance_at_least(assurance, block_from)
            and person_id not in disputed
        ):
            verdict = Verdict.BLOCKED
        else:
            verdict = Verdict.NEEDS_REVIEW
        entry.update(
            match=match,
            distance=round(float(distance), 4),
            verdict=verdict.value,
            assurance=assurance,
        )
        if operator:
            entry["subject"] = people.get(person_id, (None, None))[0]
        else:
            entry["reference"] = opaque_reference(
                organisation_id=organisation.pk if organisation else None, person_id=person_id
            )
        # Categories only: the opt-out's record id is the same for every organisation and
        # would let platforms link the person across organisations.
        entry["optout"] = {"categories": list(scope.categories)}
        entry["consent"] = {"status": status, "grant_record_id": grant_id}
        results.append(entry)
        matched.append(
            {
                "person_id": person_id,
                "match": match,
                "distance": float(distance),
                "verdict": verdict.value,
                "assurance": assurance,
                "reference": entry.get("reference", ""),
            }
        )

    verdicts = {entry["verdict"] for entry in results}
    overall = next((v for v in _VERDICT_ORDER if v.value in verdicts), Verdict.CLEAR)
    return {
        "verdict": overall.value,
        "category": category,
        "faces_found": len(results),
        "faces": results,
        "model": {"name": engine.name, "threshold": engine.threshold},
        "_matched": matched,
    }


def block_min_assurance(organisation: Organisation | None) -> str:
    """The lowest level whose opt-out blocks: the organisation's policy; ``liveness`` for an
    operator's scan or a check without an organisation."""
    if organisation is None:
        return AssuranceLevel.LIVENESS
    return organisation.block_min_assurance


_candidate_sql: dict[str | None, SqlSubquery] = {}


def _candidates(category: str | None) -> SqlSubquery:
    """People with an active opt-out covering ``category`` (any category when None), as a
    subquery run inside the search, so the very next check sees every change. Only the SQL
    text is cached (it is the same for every check of a category), never its result."""
    cached = _candidate_sql.get(category)
    if cached is not None:
        return cached
    # Without ordering: a model's default ORDER BY would make PostgreSQL sort every candidate.
    query = consent_selectors.optout_person_ids(category=category).order_by()
    sql, params = query.query.sql_with_params()
    compiled = _candidate_sql[category] = SqlSubquery(sql=sql, params=tuple(params))
    return compiled


# The registry size a check's thresholds are set for changes slowly; counting the candidates on
# every check would cost more than the search itself on a large registry.
CANDIDATES_COUNT_TTL_SECONDS = 60


def candidates_count(category: str | None) -> int:
    """How many people a check for ``category`` searches: those with an active opt-out covering
    it (any category when None). The verdict rule tightens its bars as this grows, so that the
    expected number of strangers wrongly blocked per check stays under its target."""
    key = f"matching:candidates:{category or '*'}"
    count = cache.get(key)
    if count is None:
        people = consent_selectors.optout_person_ids(category=category).order_by().distinct()
        count = people.count()
        cache.set(key, count, CANDIDATES_COUNT_TTL_SECONDS)
    return count


def _scopes_and_consent(
    person_ids: list[int],
    category: str | None,
    organisation: Organisation | None,
    media_type: str,
    at,
    assurances: dict[int, str],
) -> tuple[dict[int, Any], dict[int, tuple[str, str | None]]]:
    """For each matched person: the active opt-out covering the use (none if it was revoked
    since the search), and ("consented", grant id) when the organisation holds a valid grant for
    this use that no later opt-out overrides, else ("not_consented", None)."""
    if not person_ids:
        return {}, {}
    not_consented = ("not_consented", None)
    if category is None:  # an operator's scan across every category: no grants to weigh
        scopes: dict[int, Any] = {}
        for each in USE_CATEGORIES:
            for person_id, scope in consent_selectors.optouts_covering(
                person_ids=person_ids, category=each
            ).items():
                scopes.setdefault(person_id, scope)
        return scopes, dict.fromkeys(person_ids, not_consented)
    people = consent_selectors.people_consent(
        person_ids=person_ids,
        organisation_id=organisation.pk if organisation else None,
        category=category,
        media_type=media_type,
        territory=None,
        at=at,
        assurances=assurances,
    )
    scopes = {pid: each.optout for pid, each in people.items() if each.optout is not None}
    consent = {}
    for person_id, each in people.items():
        decision = each.decision
        consented = decision.result == "consented" and decision.record is not None
        consent[person_id] = (
            ("consented", decision.record.record_id) if consented else not_consented
        )
    return scopes, consent
