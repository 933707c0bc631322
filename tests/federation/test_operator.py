"""The federation health page is for operators only and shows failing domains."""

from __future__ import annotations

import pytest
from django.utils import timezone

from federation.models import Domain

pytestmark = pytest.mark.django_db


def test_health_page_shows_failing_domains_to_staff(admin_client):
    """Staff see queue counts and each failing domain with its last error."""
    Domain.objects.create(
        host="down.example",
        consecutive_failures=12,
        last_error="connection refused",
        last_error_at=timezone.now(),
        unreachable_since=timezone.now(),
    )
    response = admin_client.get("/operator/federation")
    assert response.status_code == 200
    page = response.content.decode()
    assert "down.example" in page and "connection refused" in page


def test_health_page_refuses_members_and_anonymous(client, django_user_model):
    """Anonymous visitors and ordinary members are sent to the admin login, not shown the page."""
    assert client.get("/operator/federation").status_code == 302
    member = django_user_model.objects.create_user(username="m", password="x-Secret-123")
    client.force_login(member)
    response = client.get("/operator/federation")
    assert response.status_code == 302 and "login" in response["Location"]
