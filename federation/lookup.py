"""Finding actors by handle or URL: local ones directly, remote ones by WebFinger and a signed
fetch from their origin. Used by the operator CLI, search and mentions."""

from __future__ import annotations

from django.conf import settings

from federation.fetch import FetchError, actor_url_from_jrd, parse_acct, webfinger
from federation.hosts import normalise_host
from federation.models import Actor
from federation.resolve import ResolveError, get_or_fetch_actor


class ActorNotFound(Exception):
    """No actor could be found for the handle or URL; the message says why."""


def resolve_handle(value: str, *, refresh: bool = False) -> Actor:
    """The actor for ``user@domain`` / ``acct:user@domain`` / ``@user@domain`` or an actor URL."""
    value = value.strip()
    try:
        if value.startswith(("http://", "https://")):
            return get_or_fetch_actor(value, refresh=refresh)
        user, host = parse_acct(value)
        if host == normalise_host(str(settings.NODE_DOMAIN)):
            actor = Actor.objects.filter(local=True, username=user.lower()).first()
            if actor is None:
                raise ActorNotFound(f"no local account {user!r}")
            return actor
        known = Actor.objects.filter(local=False, username__iexact=user, domain=host).first()
        if known is not None and not refresh:
            return known
        url = actor_url_from_jrd(webfinger(f"{user}@{host}"))
        return get_or_fetch_actor(url, refresh=refresh)
    except FetchError as exc:
        raise ActorNotFound(f"lookup of {value!r} failed: {exc}") from exc
    except ResolveError as exc:
        raise ActorNotFound(f"lookup of {value!r} failed: {exc.reason}") from exc
