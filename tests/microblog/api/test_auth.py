"""Bearer tokens, scopes, JSON errors, CORS, parameters and rate limits of the client API."""

from __future__ import annotations

from django.http import QueryDict

from microblog.api.auth import nest_querydict, param_bool, scope_allows

VERIFY = "/api/v1/accounts/verify_credentials"


def test_verify_credentials_without_token_is_401(anon, local_member):
    """A user endpoint without a token answers 401 with Mastodon's message."""
    response = anon.get(VERIFY)
    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}


def test_bad_token_is_401(local_member):
    """An unknown token is refused with 401, even on a public endpoint."""
    from tests.microblog.api.conftest import ApiClient

    client = ApiClient("not-a-token")
    assert client.get(VERIFY).status_code == 401
    response = client.get("/api/v1/instance")
    assert response.status_code == 401
    assert response.json()["error"] == "The access token is invalid"


def test_expired_token_is_401(make_token, local_member):
    """A token past its expiry date no longer authenticates."""
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model

    from tests.microblog.api.conftest import ApiClient

    raw = make_token(local_member)
    get_access_token_model().objects.update(expires=timezone.now())
    assert ApiClient(raw).get(VERIFY).status_code == 401


def test_missing_scope_is_403(api_for, local_member):
    """A token without the endpoint's scope gets 403 with Mastodon's message."""
    client = api_for(local_member, scopes="write")
    response = client.get(VERIFY)
    assert response.status_code == 403
    assert response.json() == {"error": "This action is outside the authorized scopes"}


def test_read_token_cannot_write(api_for, local_member, make_local_member):
    """A read-only token cannot follow: 403 and no follow row is stored."""
    from federation.models import Follow

    bob = make_local_member("bob")
    client = api_for(local_member, scopes="read")
    response = client.post(f"/api/v1/accounts/{bob.pk}/follow")
    assert response.status_code == 403
    assert not Follow.objects.exists()


def test_granular_scope_is_accepted(api_for, local_member):
    """``read:accounts`` is enough for verify_credentials, and ``read`` covers it too."""
    assert api_for(local_member, scopes="read:accounts").get(VERIFY).status_code == 200
    assert api_for(local_member, scopes="read").get(VERIFY).status_code == 200


def test_app_token_cannot_use_user_endpoint(make_token, oauth_app, local_member):
    """A client-credentials token (no user) is refused on user endpoints with 422."""
    from tests.microblog.api.conftest import ApiClient

    client = ApiClient(make_token(None, "read"))
    response = client.get(VERIFY)
    assert response.status_code == 422
    assert response.json()["error"] == "This method requires an authenticated user"


def test_access_token_parameter_is_accepted(make_token, local_member):
    """Doorkeeper also reads the token from the ``access_token`` parameter."""
    from django.test import Client

    raw = make_token(local_member)
    response = Client().get(VERIFY, {"access_token": raw})
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_unknown_account_is_404_json(api):
    """A missing record answers 404 ``Record not found``."""
    response = api.get("/api/v1/accounts/999999")
    assert response.status_code == 404
    assert response.json() == {"error": "Record not found"}


def test_cors_headers_and_preflight(anon, api):
    """API answers carry ``Access-Control-Allow-Origin: *`` and pre-flights succeed."""
    response = anon.get("/api/v1/instance")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Link" in response["Access-Control-Expose-Headers"]
    preflight = anon.client.options(VERIFY, HTTP_ORIGIN="https://elk.zone", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert preflight.status_code == 200
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    assert api.get(VERIFY)["Access-Control-Allow-Origin"] == "*"


def test_wrong_method_is_405(api):
    """A method the endpoint does not take answers 405 JSON."""
    response = api.delete(VERIFY)
    assert response.status_code == 405
    assert "error" in response.json()


def test_rate_limit_answers_429(api, settings):
    """Past the per-token limit the API answers 429 with rate-limit headers."""
    settings.MICROBLOG_API_RATE_LIMIT = 3
    statuses = [api.get(VERIFY).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = api.get(VERIFY)
    assert response.json() == {"error": "Too many requests"}
    assert response["X-RateLimit-Remaining"] == "0"


def test_rails_nested_parameters():
    """Form names like ``id[]`` and ``poll[options][]`` nest as Rails does."""
    params = nest_querydict(QueryDict("id[]=1&id[]=2&poll[options][]=a&poll[options][]=b&poll[expires_in]=300&x=y"))
    assert params == {"id": ["1", "2"], "poll": {"options": ["a", "b"], "expires_in": "300"}, "x": "y"}


def test_scope_hierarchy():
    """``read`` covers ``read:*``, ``follow`` covers follows/blocks/mutes, nothing else leaks."""
    assert scope_allows(["read"], "read:statuses")
    assert not scope_allows(["read"], "write:statuses")
    assert scope_allows(["follow"], "write:blocks")
    assert not scope_allows(["follow"], "write:statuses")
    assert scope_allows(["admin:read"], "admin:read:accounts")
    assert not scope_allows(["read:statuses"], "read:accounts")


def test_param_bool_rails_values():
    """Booleans follow Rails: false/0/f/off are false, other values true, empty the default."""
    assert param_bool("false") is False
    assert param_bool("0") is False
    assert param_bool("true") is True
    assert param_bool("1") is True
    assert param_bool("", True) is True
    assert param_bool(None) is False
