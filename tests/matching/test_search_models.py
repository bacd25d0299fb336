"""faces_nearest compares a probe only with templates of one model, on every search path."""

from __future__ import annotations

import numpy as np
import pytest

from matching import selectors
from matching.engine import get_engine
from matching.selectors import faces_nearest
from registry.db import uses_pgvector
from registry.lib.template_protection import protect
from registry.models import FaceTemplate, Person
from tests.matching.test_search import (
    KEYS,
    _two_template_keys,  # noqa: F401 (autouse fixture: the test keys, fresh key versions)
    brute_force,
    clustered_embeddings,
    store,
    use_the_hnsw_index,
)

pytestmark = pytest.mark.django_db

OTHER_MODEL = "another-model-of-128-numbers"


@pytest.fixture
def two_models():
    """80 people under the active model, and their exact copies under another model of the same
    length: nearer to every query than anything of the active model, were they compared."""
    rng = np.random.default_rng(16)
    embeddings = clustered_embeddings(rng, people=80, per_person=3)
    use_the_hnsw_index()
    people, raw = store(embeddings)
    person_of = dict(FaceTemplate.objects.values_list("id", "person_id"))
    shadow = Person.objects.create(display_name="templates of another model")
    for samples in embeddings:
        for sample in samples:
            FaceTemplate.objects.create(
                person=shadow,
                embedding=protect(sample, KEYS[1]),
                key_version=1,
                model_name=OTHER_MODEL,
                model_version="1",
                quality=1.0,
                face_px=200,
            )
    selectors.template_key_versions_forget()
    return embeddings, people, raw, person_of, shadow


def _array_path(query, *, model_name, person_ids=None, limit=5):
    """The ``double precision[]`` path (PostgreSQL without pgvector), run on the same rows."""
    filter_sql, params, _probe = selectors._person_filter(person_ids)
    column = "t.embedding::real[]" if uses_pgvector() else "t.embedding"
    hits = []
    for version in (1, 2):
        rotated = protect(query, KEYS[version])
        hits += selectors._exact_array(
            rotated, version, model_name, limit, filter_sql, params, column=column
        )
    hits.sort(key=lambda h: (h.distance, h.template_id))
    return hits[:limit]


def test_templates_of_another_model_are_never_returned(two_models):
    embeddings, _people, raw, person_of, _shadow = two_models
    for person_index in range(0, 80, 9):
        query = embeddings[person_index, 0]  # the other model's copy is at distance 0
        expected = [t for _d, t in brute_force(query, raw, person_of)[:5]]
        for exact in (False, True):
            hits = faces_nearest(embedding=query, limit=5, exact=exact)
            assert [h.template_id for h in hits] == expected
        assert [h.template_id for h in _array_path(query, model_name=get_engine().name)] == expected


def test_the_checks_filtered_search_skips_another_models_templates(two_models):
    embeddings, people, raw, person_of, shadow = two_models
    candidates = {p.pk for p in people[::3]} | {shadow.pk}
    FaceTemplate.objects.filter(person_id__in=candidates).update(opted_out=True)
    candidate_qs = Person.objects.filter(pk__in=candidates).values("id")
    for person_index in range(0, 80, 6):
        query = embeddings[person_index, 1]
        expected = [t for _d, t in brute_force(query, raw, person_of, candidates)[:4]]
        for kwargs in ({}, {"exact": True}, {"opted_out_only": True, "max_distance": 2.0}):
            hits = faces_nearest(embedding=query, limit=4, person_ids=candidate_qs, **kwargs)
            assert [h.template_id for h in hits] == expected, kwargs
            assert shadow.pk not in {h.person_id for h in hits}
        array_hits = _array_path(
            query, model_name=get_engine().name, person_ids=candidate_qs, limit=4
        )
        assert [h.template_id for h in array_hits] == expected


def test_naming_the_other_model_searches_only_its_templates(two_models):
    embeddings, _people, _raw, _person_of, shadow = two_models
    query = embeddings[7, 2]
    for exact in (False, True):
        hits = faces_nearest(embedding=query, limit=3, exact=exact, model_name=OTHER_MODEL)
        assert {h.person_id for h in hits} == {shadow.pk}
        assert hits[0].distance == pytest.approx(0, abs=1e-4)
    array_hits = _array_path(query, model_name=OTHER_MODEL, limit=3)
    assert {h.person_id for h in array_hits} == {shadow.pk}


def test_a_model_with_no_templates_finds_nobody(two_models):
    embeddings, *_ = two_models
    for exact in (False, True):
        assert faces_nearest(embedding=embeddings[0, 0], exact=exact, model_name="unused") == []
