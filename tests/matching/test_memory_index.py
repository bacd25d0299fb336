"""The checks' in-memory index (MATCHING_INDEX=memory) beside PostgreSQL.

It answers as pgvector and the exact search do on the shared faces; a stale index file never
hides an opt-out nor shows a revoked or erased one; a rebuild swaps files under running checks;
worker processes share one mapped copy; and any engine's dimension is served.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.db import connection, transaction

from consent.models import Record, RecordKind
from consent.services import optout_record, record_revoke
from lifecycle.services import person_erase
from matching import selectors, services
from matching.engine import get_engine
from matching.lib import ann_index
from matching.lib.ann_index import AnnIndexView, ann_index_build
from matching.selectors import faces_nearest
from matching.selectors.memory_index import current_index, current_index_forget
from registry.models import FaceTemplate, Person
from tests.matching.checks_fixtures import Platform, enroll
from tests.matching.test_checks import embedding_of
from tests.matching.test_search import (
    KEYS,
    brute_force,
    clustered_embeddings,
    store,
    use_the_hnsw_index,
)

# Committed data: a build reads under its own snapshot, as in production. Inside a test's
# transaction every row would be the build's own in-progress change, which no snapshot counts as
# seen, so every template would also be compared exactly and the index would decide nothing.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_rate_limits")]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def memory_index(settings, tmp_path, monkeypatch):
    """The memory index in a directory of this test's own; a graph even for a handful of
    templates (the flat index below EXACT_BELOW would be exact by construction)."""
    settings.MATCHING_INDEX = "memory"
    settings.MATCHING_INDEX_DIR = tmp_path / "index"
    monkeypatch.setattr(ann_index, "EXACT_BELOW", 0)
    current_index_forget()
    yield settings.MATCHING_INDEX_DIR
    current_index_forget()


def build() -> None:
    made = services.search_index_build()
    assert made is not None
    loaded = current_index()
    assert loaded is not None and loaded.views, "the build was not picked up"
    # Nothing is left to the exact delta: the answers that follow are the index's.
    assert services.search_index_changes(made) == 0


@pytest.fixture
def corpus(db, faces, manifest, analysed):
    """Every person of the shared faces enrolled from their first photo, the first four opted
    out of every use; the queries are every face of every photo (groups included)."""
    people = sorted(manifest["people"])
    enrolled = {}
    for index, name in enumerate(people):
        first = manifest["people"][name][0].removeprefix("people/")
        enrolled[name] = enroll(name, [first], optout=index < 4)
    queries = [face.vector for faces_found in analysed.values() for face in faces_found]
    return enrolled, queries


def answers(queries, *, settings, mode: str) -> list[list[tuple[int, float]]]:
    settings.MATCHING_INDEX = mode
    engine = get_engine()
    candidates = services.decide._candidates(None)
    found = []
    for vector in queries:
        hits = faces_nearest(
            embedding=vector,
            limit=5,
            person_ids=candidates,
            max_distance=engine.review_threshold,
            opted_out_only=True,
        )
        found.append([(hit.template_id, round(hit.distance, 4)) for hit in hits])
    return found


def test_memory_index_pgvector_and_exact_search_agree_on_the_corpus(corpus, memory_index, settings):
    _enrolled, queries = corpus
    build()
    memory = answers(queries, settings=settings, mode="memory")
    with transaction.atomic():  # the index checks of use_the_hnsw_index are SET LOCAL
        use_the_hnsw_index()
        pgvector = answers(queries, settings=settings, mode="pgvector")
        settings.MATCHING_EXACT_SEARCH = True
        exact = answers(queries, settings=settings, mode="pgvector")
    assert memory == pgvector == exact
    assert sum(bool(hits) for hits in memory) >= 10  # the opted-out people were found


@pytest.fixture
def gallery(settings):
    """80 synthetic people, 3 templates each, under two key versions (as in test_search)."""
    settings.TEMPLATE_KEYS = KEYS
    selectors.template_key_versions_forget()
    rng = np.random.default_rng(5)
    embeddings = clustered_embeddings(rng, people=80, per_person=3)
    people, raw = store(embeddings)
    person_of = dict(FaceTemplate.objects.values_list("id", "person_id"))
    yield rng, embeddings, people, raw, person_of
    selectors.template_key_versions_forget()


def test_a_category_filter_that_few_pass_widens_the_pool_then_scans_exactly(gallery, memory_index):
    """Candidates a subset of the opted-out people (a category narrows the opt-outs), under
    two key versions: the pool's survivors, the wider pool and the exact scan answer as the
    brute force does, with and without a review distance."""
    rng, embeddings, people, raw, person_of = gallery
    flagged = {p.pk for p in people[::2]}
    FaceTemplate.objects.filter(person_id__in=flagged).update(opted_out=True)
    build()
    for candidates in ({pk for pk in flagged if pk % 3}, set(sorted(flagged)[:2])):
        candidate_qs = Person.objects.filter(pk__in=candidates).values("id")
        for person_index in range(0, 80, 3):
            query = embeddings[person_index, 0] + rng.normal(0, 0.02, 128)
            truth = brute_force(query, raw, person_of, candidates)
            for max_distance in (None, 0.5):
                hits = faces_nearest(
                    embedding=query,
                    limit=5,
                    person_ids=candidate_qs,
                    opted_out_only=True,
                    max_distance=max_distance,
                )
                expected = [t for d, t in truth[:5] if max_distance is None or d <= max_distance]
                assert [h.template_id for h in hits] == expected


def test_an_optout_a_revocation_and_an_erasure_count_on_the_next_check_with_a_stale_index(
    memory_index,
):
    platform = Platform("Clip Share")
    obama = enroll("obama", ["obama/obama.jpg", "obama/obama2.jpg"])
    biden = enroll("biden", ["biden/biden.jpg"])
    kit = enroll("kit", ["kit_harington/kit1.jpg", "kit_harington/kit2.jpg"], optout=False)
    build()  # from here on the index file is stale

    def verdict(relative: str) -> str:
        return platform.check_file(relative).json()["result"]["verdict"]

    assert verdict("people/obama/obama3.jpg") == "blocked"
    assert verdict("people/kit_harington/kit3.jpg") == "clear"

    optout_record(person=kit, categories=None)  # after the build: only in the delta
    assert verdict("people/kit_harington/kit3.jpg") == "blocked"

    record_revoke(record=Record.objects.get(person=obama, kind=RecordKind.OPTOUT))
    assert verdict("people/obama/obama3.jpg") == "clear"  # still in the file, re-checked away

    assert verdict("people/biden/biden2.jpg") == "blocked"
    person_erase(person=biden)
    assert verdict("people/biden/biden2.jpg") == "clear"

    # The file never changed: every answer above came from re-checks and the delta.
    assert services.search_index_changes(current_index_build()) >= 3


def current_index_build():
    from matching.models import SearchIndexBuild

    return SearchIndexBuild.objects.get(pk=current_index().build_id)


def test_a_template_added_after_the_build_is_found(memory_index):
    enroll("obama", ["obama/obama.jpg"])
    build()
    selectors.template_key_versions_forget()
    enroll("biden", ["biden/biden.jpg"])
    platform = Platform("Clip Share")
    assert platform.check_file("people/biden/biden2.jpg").json()["result"]["verdict"] == "blocked"


def test_rebuilds_swap_files_under_running_checks_without_failing_one(memory_index):
    enroll("obama", ["obama/obama.jpg", "obama/obama2.jpg"])
    enroll("biden", ["biden/biden.jpg"])
    obama3 = embedding_of("people/obama/obama3.jpg")
    candidates = services.decide._candidates(None)
    expected_person = FaceTemplate.objects.filter(person__display_name="obama").first().person_id
    build()
    first_build = current_index().build_id
    failures: list[BaseException] = []
    answers_seen: set[int] = set()
    stop = threading.Event()

    def checks_in_a_loop() -> None:
        try:
            while not stop.is_set():
                hits = faces_nearest(
                    embedding=obama3,
                    limit=3,
                    person_ids=candidates,
                    max_distance=0.68,
                    opted_out_only=True,
                )
                answers_seen.add(hits[0].person_id)
        except BaseException as error:  # noqa: BLE001 - any failure fails the test
            failures.append(error)
        finally:
            connection.close()

    worker = threading.Thread(target=checks_in_a_loop)
    worker.start()
    try:
        for _ in range(4):
            build()
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not failures, failures
    assert answers_seen == {expected_person}
    # This process picked up the newest build without a restart, and only the newest two
    # builds' files are left on disk.
    assert current_index().build_id != first_build
    assert len({p.name.split("-")[0] for p in memory_index.rglob("*.faiss")}) == 2


SHARER = textwrap.dedent(
    """
    import sys, numpy as np
    sys.path.insert(0, {repo!r})
    from matching.lib.ann_index import AnnIndexView
    view = AnnIndexView(__import__("pathlib").Path({path!r}))
    rng = np.random.default_rng(int(sys.argv[1]))
    for _ in range(300):
        view.search(rng.normal(size=view.dimensions), 10, breadth=64)
    stats, current = {{}}, None
    for line in open("/proc/self/smaps"):
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 6:
            current = fields[5] if fields[5].endswith(".faiss") else None
            if current:
                stats.setdefault("inode", fields[4])
                stats.setdefault("perms", fields[1])
        elif current and fields[0].rstrip(":") == "Rss":
            key = fields[0].rstrip(":")
            stats[key] = stats.get(key, 0) + int(fields[1])
    anon = [l for l in open("/proc/self/status") if l.startswith("RssAnon")][0].split()[1]
    print(stats["inode"], stats["Rss"], stats["perms"], anon, flush=True)
    sys.stdin.readline()  # both processes stay alive until both have reported
    shared = 0
    for line in open("/proc/self/smaps"):
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 6:
            current = fields[5] if fields[5].endswith(".faiss") else None
        elif current and fields[0] in ("Shared_Clean:", "Shared_Dirty:"):
            shared += int(fields[1])
    print(shared, flush=True)
    sys.stdin.readline()  # and until both have measured
    """
)


def test_two_worker_processes_share_one_mapped_file(tmp_path):
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(60_000, 128)).astype(np.float32)
    path = tmp_path / "shared.faiss"
    file_bytes = ann_index_build(path, np.arange(60_000), vectors)
    script = tmp_path / "sharer.py"
    script.write_text(SHARER.format(repo=str(REPO), path=str(path)))
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    reports = [worker.stdout.readline().split() for worker in workers]
    for worker in workers:
        worker.stdin.write("\n")
        worker.stdin.flush()
    shared = [int(worker.stdout.readline()) for worker in workers]
    for worker in workers:
        worker.stdin.write("\n")
        worker.stdin.flush()
        worker.wait(timeout=30)
    inodes = {report[0] for report in reports}
    assert len(inodes) == 1  # the same file
    for (_inode, rss_kb, perms, anon_kb), shared_kb in zip(reports, shared, strict=True):
        # Mapped read-only and shared (MAP_SHARED: the page cache's pages, never a copy).
        assert int(rss_kb) > 0 and perms == "r--s"
        # Pages both processes touched are one copy in the page cache, counted as shared
        # (dirty while the freshly written file is not yet flushed to disk).
        assert shared_kb > 0
        # The process's own memory holds no copy of the index (graph and vectors: ~35 MB).
        assert int(anon_kb) * 1024 < 0.5 * file_bytes + 60 * 2**20


@pytest.mark.parametrize("dimensions", [128, 512])
def test_any_engines_dimension_is_served(tmp_path, dimensions):
    rng = np.random.default_rng(dimensions)
    vectors = rng.normal(size=(30_000, dimensions)).astype(np.float32)
    keys = np.arange(10_000_000, 10_030_000)
    ann_index_build(tmp_path / "i.faiss", keys, vectors)
    view = AnnIndexView(tmp_path / "i.faiss")
    assert view.dimensions == dimensions and view.size == 30_000
    for row in (0, 17, 29_999):
        query = vectors[row] + rng.normal(0, 0.01, dimensions).astype(np.float32)
        found = view.search(query, 5, breadth=128)
        truth = np.argsort(np.linalg.norm(vectors - query, axis=1))[:5]
        assert found.keys[0] == keys[truth[0]]
        assert found.distances[0] == pytest.approx(np.linalg.norm(vectors[truth[0]] - query), 1e-4)
    with pytest.raises(ValueError, match="expected"):
        view.search(np.zeros(dimensions + 1), 5, breadth=64)


def test_the_refresh_rebuilds_only_when_enough_changed(memory_index, settings):
    obama = enroll("obama", ["obama/obama.jpg"])
    assert services.search_index_state().due == "no index yet"
    assert services.search_index_refresh().startswith("rebuilt (no index yet)")
    assert services.search_index_refresh() == "fresh"
    settings.MATCHING_INDEX_REBUILD_CHANGES = 2
    record_revoke(record=Record.objects.get(person=obama, kind=RecordKind.OPTOUT))
    assert services.search_index_refresh() == "fresh"  # one template changed
    enroll("biden", ["biden/biden.jpg", "biden/biden2.jpg"])
    assert services.search_index_state().due == "3 templates changed"
    assert "rebuilt" in services.search_index_refresh()
    assert services.search_index_refresh() == "fresh"
    settings.MATCHING_INDEX = "pgvector"
    assert "not used" in services.search_index_refresh()


def test_a_manifest_this_database_never_built_is_ignored(memory_index):
    enroll("obama", ["obama/obama.jpg"])
    build()
    manifest = next(memory_index.rglob("current.json"))
    text = manifest.read_text()
    build_id = current_index().build_id
    # As if the database had been recreated (a test run, a restore): its build row is gone.
    manifest.write_text(text.replace(build_id, "0" * 32))
    assert current_index() is None
    platform = Platform("Clip Share")
    # Every opted-out template is then searched exactly: the answer is still right.
    assert platform.check_file("people/obama/obama3.jpg").json()["result"]["verdict"] == "blocked"
    manifest.write_text("{not json")
    assert current_index() is None


def test_the_command_and_the_health_report_describe_the_index(memory_index, client):
    import json

    from django.core.management import call_command

    enroll("obama", ["obama/obama.jpg", "obama/obama2.jpg"])
    out = StringIO()
    call_command("matching_index", "build", stdout=out)
    assert json.loads(out.getvalue())["templates"] == 2
    out = StringIO()
    call_command("matching_index", "status", stdout=out)
    status = json.loads(out.getvalue())
    assert status["changed_since"] == 0 and status["due"] is None
    report = client.get("/healthz").json()["checks"]["search_index"]
    assert report["ok"] and report["built"] and report["templates"] == 2
    assert report["changed_since"] == 0
