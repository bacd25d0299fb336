"""faces_nearest: HNSW and exact search agree, across key versions, with and without candidates."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
from django.db import connection
from django.test import override_settings

from matching import selectors
from matching.engine import get_engine
from matching.selectors import faces_nearest
from registry.db import uses_pgvector, vector_literal
from registry.lib.template_protection import protect
from registry.models import FaceTemplate, Person

pytestmark = pytest.mark.django_db

KEYS = {1: secrets.token_bytes(32), 2: secrets.token_bytes(32)}


@pytest.fixture(autouse=True)
def _two_template_keys():
    selectors.template_key_versions_forget()
    # These are pgvector's paths; the checks' memory index has its own tests
    # (test_memory_index.py), which compare it with these.
    with override_settings(TEMPLATE_KEYS=KEYS, MATCHING_INDEX="pgvector"):
        yield
    selectors.template_key_versions_forget()


def clustered_embeddings(rng: np.random.Generator, people: int, per_person: int) -> np.ndarray:
    """Face-like data: one centre per person, a few noisy samples around it (about 0.4 apart)."""
    centres = rng.normal(0, 0.09, size=(people, 128))
    noise = rng.normal(0, 0.025, size=(people, per_person, 128))
    return (centres[:, None, :] + noise).astype(np.float32)


def store(embeddings: np.ndarray) -> tuple[list[Person], dict[int, np.ndarray]]:
    """Each person's templates, alternately under key version 1 and 2: {template id: raw}."""
    people, raw_by_template = [], {}
    for index, samples in enumerate(embeddings):
        person = Person.objects.create(display_name=f"person {index}")
        people.append(person)
        for sample_index, sample in enumerate(samples):
            version = 1 + (index + sample_index) % 2
            template = FaceTemplate.objects.create(
                person=person,
                embedding=protect(sample, KEYS[version]),
                key_version=version,
                # The active engine's model: the searches compare only its templates.
                model_name=get_engine().name,
                model_version="1",
                quality=1.0,
                face_px=200,
            )
            raw_by_template[template.pk] = sample
    return people, raw_by_template


def brute_force(
    query: np.ndarray, raw: dict[int, np.ndarray], person_of: dict[int, int], allowed=None
):
    rows = [
        (float(np.linalg.norm(vector.astype(np.float64) - query)), template_id)
        for template_id, vector in raw.items()
        if allowed is None or person_of[template_id] in allowed
    ]
    return sorted(rows)


def use_the_hnsw_index() -> bool:
    """Make sure a fresh HNSW index exists and that the planner uses it even on a small table.

    The index of the migration persists across tests, and an HNSW scan counts the entries of
    rows that earlier tests inserted and rolled back towards its ef_search budget until a
    VACUUM, so it is rebuilt here; both are undone with the test's transaction.
    """
    if not uses_pgvector():
        return False
    # name: the predicate of a partial index (the checks' index, migration 0006)
    indexes = {"template_embedding_hnsw": "", "template_optout_hnsw": "opted_out"}
    with connection.cursor() as cursor:
        for name, predicate in indexes.items():
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [name])
            if cursor.fetchone():
                cursor.execute(f"REINDEX INDEX {name}")
            else:
                cursor.execute(
                    f"CREATE INDEX {name} ON registry_facetemplate "
                    "USING hnsw (embedding vector_l2_ops)"
                    + (f" WHERE {predicate}" if predicate else "")
                )
        cursor.execute("SET LOCAL enable_seqscan = off")
        for name, predicate in indexes.items():
            where = f"t.key_version = 1 AND {predicate}" if predicate else "t.key_version = 1"
            cursor.execute(
                f"EXPLAIN SELECT id FROM registry_facetemplate t WHERE {where} "  # noqa: S608
                "ORDER BY embedding <-> %s::vector LIMIT 5",
                [vector_literal(np.zeros(128))],
            )
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert name in plan, plan
    return True


@pytest.fixture
def gallery():
    rng = np.random.default_rng(5)
    embeddings = clustered_embeddings(rng, people=80, per_person=3)
    use_the_hnsw_index()
    people, raw = store(embeddings)
    person_of = dict(FaceTemplate.objects.values_list("id", "person_id"))
    return rng, embeddings, people, raw, person_of


def test_the_nearest_templates_are_the_true_nearest_across_key_versions(gallery):
    rng, embeddings, _people, raw, person_of = gallery
    for person_index in range(0, 80, 7):
        query = embeddings[person_index, 0] + rng.normal(0, 0.02, 128)
        expected = brute_force(query, raw, person_of)[:5]
        for exact in (False, True):
            hits = faces_nearest(embedding=query, limit=5, exact=exact)
            assert [h.template_id for h in hits] == [t for _d, t in expected]
            assert [h.distance for h in hits] == pytest.approx([d for d, _t in expected], abs=1e-4)
        # The nearest is a template of the person the query was drawn around, and the person's
        # templates under both key versions are found.
        nearest_people = {h.person_id for h in faces_nearest(embedding=query, limit=3)}
        assert nearest_people == {person_of[expected[0][1]]}


def test_hnsw_exact_and_array_paths_return_the_same_answers_with_a_candidate_filter(gallery):
    rng, embeddings, people, raw, person_of = gallery
    candidates = {p.pk for p in people[::4]}
    candidate_qs = Person.objects.filter(pk__in=candidates).values("id")
    for person_index in range(0, 80, 3):
        query = embeddings[person_index, 1] + rng.normal(0, 0.02, 128)
        expected = [t for _d, t in brute_force(query, raw, person_of, candidates)[:4]]
        index_hits = faces_nearest(embedding=query, limit=4, person_ids=candidate_qs)
        exact_hits = faces_nearest(embedding=query, limit=4, person_ids=candidate_qs, exact=True)
        listed_hits = faces_nearest(embedding=query, limit=4, person_ids=sorted(candidates))
        assert [h.template_id for h in index_hits] == expected
        assert [h.template_id for h in exact_hits] == expected
        assert [h.template_id for h in listed_hits] == expected
        assert all(h.person_id in candidates for h in index_hits)
        # The double precision[] path (PostgreSQL without pgvector), run here on the same rows.
        array_hits = []
        for version in (1, 2):
            rotated = protect(query, KEYS[version])
            filter_sql, params, _probe = selectors._person_filter(candidate_qs)
            column = "t.embedding::real[]" if uses_pgvector() else "t.embedding"
            array_hits += selectors._exact_array(
                rotated, version, get_engine().name, 4, filter_sql, params, column=column
            )
        array_hits.sort(key=lambda h: (h.distance, h.template_id))
        assert [h.template_id for h in array_hits[:4]] == expected


def test_a_small_candidate_pool_still_finds_far_candidates(gallery):
    """When every index result is filtered out, the exact scan over candidates answers."""
    _rng, embeddings, people, raw, person_of = gallery
    lonely = {people[-1].pk}
    query = embeddings[0, 0]
    expected = [t for _d, t in brute_force(query, raw, person_of, lonely)[:2]]
    hits = faces_nearest(
        embedding=query, limit=2, person_ids=sorted(lonely), candidate_pool=10, ef_search=10
    )
    assert [h.template_id for h in hits] == expected


def test_no_candidates_and_no_templates_give_no_hits(gallery):
    _rng, embeddings, _people, _raw, _person_of = gallery
    assert faces_nearest(embedding=embeddings[0, 0], person_ids=[]) == []
    assert faces_nearest(embedding=embeddings[0, 0], person_ids=Person.objects.none()) == []
    FaceTemplate.objects.all().delete()
    selectors.template_key_versions_forget()
    assert faces_nearest(embedding=embeddings[0, 0]) == []


def test_a_query_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="128"):
        faces_nearest(embedding=np.zeros(64, dtype=np.float32))


def test_max_distance_keeps_only_close_hits_and_agrees_with_the_exact_search(gallery):
    rng, embeddings, people, raw, person_of = gallery
    candidates = {p.pk for p in people[1::5]}
    for person_index in range(0, 80, 5):
        query = embeddings[person_index, 2] + rng.normal(0, 0.02, 128)
        expected = [t for d, t in brute_force(query, raw, person_of, candidates)[:10] if d <= 0.5]
        for exact in (False, True):
            hits = faces_nearest(
                embedding=query,
                limit=10,
                person_ids=sorted(candidates),
                max_distance=0.5,
                candidate_pool=20,
                exact=exact,
            )
            assert [h.template_id for h in hits] == expected


def test_the_checks_search_of_opted_out_templates_agrees_with_the_exact_search(gallery):
    """``opted_out_only`` walks the partial index of flagged templates; the candidates (here a
    subset of the flagged people, as a category narrows the opt-outs) are filtered after."""
    rng, embeddings, people, raw, person_of = gallery
    flagged = {p.pk for p in people[::2]}
    FaceTemplate.objects.filter(person_id__in=flagged).update(opted_out=True)
    use_the_hnsw_index()
    candidates = {pk for pk in flagged if pk % 3}
    candidate_qs = Person.objects.filter(pk__in=candidates).values("id")
    for person_index in range(0, 80, 3):
        query = embeddings[person_index, 0] + rng.normal(0, 0.02, 128)
        expected = [t for _d, t in brute_force(query, raw, person_of, candidates)[:5]]
        hits = faces_nearest(embedding=query, limit=5, person_ids=candidate_qs, opted_out_only=True)
        assert [h.template_id for h in hits] == expected
        close = faces_nearest(
            embedding=query,
            limit=5,
            person_ids=candidate_qs,
            opted_out_only=True,
            max_distance=0.5,
        )
        assert [h.template_id for h in close] == [
            t for d, t in brute_force(query, raw, person_of, candidates)[:5] if d <= 0.5
        ]


def test_a_short_hnsw_pool_is_not_taken_to_cover_the_review_distance(gallery, monkeypatch):
    """An HNSW scan returns at most ef_search entries, and entries of deleted rows (erasures,
    revocations, rolled-back enrollments: kept until VACUUM) count towards that budget. Seen in
    CI: after hundreds of rolled-back enrollments of the same photos, a check's scan handed back
    a few live far-away templates but not the opted-out person's own, and because the pool
    reached past the review distance the search trusted it and answered `clear`. A pool shorter
    than asked for proves nothing about its reach, so the exact scan must decide."""
    rng, embeddings, people, raw, person_of = gallery
    flagged = {p.pk for p in people[:3]}
    FaceTemplate.objects.filter(person_id__in=flagged).update(opted_out=True)
    use_the_hnsw_index()
    exact_scans = []
    real_exact = selectors._exact_vector

    def counting_exact(*args, **kwargs):
        exact_scans.append(args)
        return real_exact(*args, **kwargs)

    monkeypatch.setattr(selectors, "_exact_vector", counting_exact)
    query = embeddings[0, 0] + rng.normal(0, 0.02, 128)
    candidate_qs = Person.objects.filter(pk__in=flagged).values("id")
    hits = faces_nearest(
        embedding=query, limit=20, person_ids=candidate_qs, opted_out_only=True, max_distance=0.2
    )
    # Nine live flagged templates, far fewer than the pool of 100 asked for: the exact scan ran.
    assert exact_scans
    expected = [t for d, t in brute_force(query, raw, person_of, flagged) if d <= 0.2]
    assert [h.template_id for h in hits] == expected
