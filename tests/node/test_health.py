"""/healthz reports database and broker reachability."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_healthz_ok_when_database_and_broker_answer(client):
    """Both reachable: 200 and a JSON body saying so."""
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True and body["broker"]["ok"] is True


@pytest.mark.django_db
def test_healthz_503_when_broker_unreachable(client, monkeypatch):
    """A broker that does not answer gives 503 with the reason."""
    monkeypatch.setattr("node.views.check_broker", lambda: (False, "ConnectionRefusedError"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == {"ok": False, "detail": "ConnectionRefusedError"}
