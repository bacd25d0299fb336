"""GET /healthz reports the database, pgvector, the broker and the face model."""

import pytest


@pytest.mark.django_db
def test_healthz_reports_every_dependency(client):
    response = client.get("/healthz")
    body = response.json()
    assert set(body["checks"]) == {
        "database",
        "pgvector",
        "broker",
        "face_model",
        "registry_capacity",
        "search_index",
    }
    assert body["checks"]["database"]["ok"] is True
    # No opted-out templates yet: no memory index is needed, none is due.
    assert body["checks"]["search_index"] == {
        "mode": "memory",
        "rebuild_due": None,
        "ok": True,
        "built": False,
    }
    # The embedded PostgreSQL ships pgvector, so the default set-up searches with it.
    assert body["checks"]["pgvector"]["available"] is True
    assert body["checks"]["broker"]["mode"] == "eager"
    assert body["checks"]["face_model"]["ok"] is True, body["checks"]["face_model"]
    assert response.status_code == 200
    assert body["status"] == "ok"


@pytest.mark.django_db
def test_healthz_is_not_cached(client):
    response = client.get("/healthz")
    assert "no-cache" in response["Cache-Control"]
