"""Discovery: WebFinger (RFC 7033), host-meta (RFC 6415) and NodeInfo 2.0/2.1.

All three answer CORS requests with ``Access-Control-Allow-Origin: *`` (RFC 7033 section 5).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from federation import registry
from federation.actors import INSTANCE_ACTOR_USERNAME, get_instance_actor
from federation.hosts import normalise_host
from federation.models import Actor, ActorType

JRD = "application/jrd+json"
NODEINFO_NS = "http://nodeinfo.diaspora.software/ns/schema/"


def _cors(response: HttpResponse) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _jrd(doc: dict[str, Any], status: int = 200) -> HttpResponse:
    return _cors(HttpResponse(json.dumps(doc, ensure_ascii=False), content_type=f"{JRD}; charset=utf-8", status=status))


def _error(message: str, status: int) -> HttpResponse:
    return _cors(JsonResponse({"error": message}, status=status))


def _our_domain() -> str:
    return normalise_host(str(settings.NODE_DOMAIN))


def _actor_for_resource(resource: str) -> Actor | None:
    """Find the local actor named by ``acct:user@domain`` or by one of its URLs."""
    resource = resource.strip()
    if resource.startswith("acct:") or ("@" in resource and "://" not in resource):
        handle = unquote(resource.removeprefix("acct:")).lstrip("@")
        user, sep, domain = handle.rpartition("@")
        if not sep or not user:
            return None
        try:
            if normalise_host(domain) != _our_domain():
                return None
        except ValueError:
            return None
        if user == INSTANCE_ACTOR_USERNAME:
            return get_instance_actor()
        return Actor.objects.filter(local=True, username=user.lower(), suspended=False).first()
    parts = urlsplit(resource)
    if parts.scheme not in ("http", "https"):
        return None
    return Actor.objects.filter(local=True, suspended=False).filter(ap_id=resource).first() or (
        Actor.objects.filter(local=True, suspended=False, url=resource).first()
    )


@require_GET
def webfinger(request: HttpRequest) -> HttpResponse:
    """RFC 7033: 400 without ``resource``, 404 for an unknown account, else the JRD with
    ``self`` (AS2) and ``profile-page`` links."""
    resource = request.GET.get("resource")
    if not resource:
        return _error("The 'resource' query parameter is required, e.g. ?resource=acct:alice@host.", 400)
    actor = _actor_for_resource(resource)
    if actor is None:
        return _error("No such account on this node.", 404)
    subject = f"acct:{actor.username}@{settings.NODE_DOMAIN}"
    links: list[dict[str, Any]] = [
        {"rel": "self", "type": "application/activity+json", "href": actor.ap_id},
        {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": actor.url},
    ]
    doc = {"subject": subject, "aliases": [actor.ap_id, actor.url], "links": links}
    return _jrd(doc)


@require_GET
def host_meta(request: HttpRequest) -> HttpResponse:
    """RFC 6415 host-meta pointing to our WebFinger endpoint (XRD; JSON with ``.json``)."""
    template = f"{settings.NODE_BASE_URL}/.well-known/webfinger?resource={{uri}}"
    if request.path.endswith(".json") or "json" in request.headers.get("Accept", ""):
        return _cors(JsonResponse({"links": [{"rel": "lrdd", "template": template}]}))
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{template}"/>\n'
        "</XRD>\n"
    )
    return _cors(HttpResponse(xml, content_type="application/xrd+xml; charset=utf-8"))


@require_GET
def nodeinfo_links(request: HttpRequest) -> HttpResponse:
    """``/.well-known/nodeinfo``: links to the 2.0 and 2.1 documents."""
    base = settings.NODE_BASE_URL
    doc = {
        "links": [
            {"rel": f"{NODEINFO_NS}2.0", "href": f"{base}/nodeinfo/2.0"},
            {"rel": f"{NODEINFO_NS}2.1", "href": f"{base}/nodeinfo/2.1"},
        ]
    }
    return _cors(JsonResponse(doc))


def usage() -> dict[str, Any]:
    """Usage counts: local members (total, active in 30 and 180 days) and registered counters."""
    now = timezone.now()
    people = get_user_model().objects.filter(is_active=True, actor__isnull=False)
    return {
        "users": {
            "total": people.count(),
            "activeMonth": people.filter(last_login__gte=now - timedelta(days=30)).count(),
            "activeHalfyear": people.filter(last_login__gte=now - timedelta(days=180)).count(),
        },
        "localPosts": registry.count("localPosts"),
        "localComments": registry.count("localComments"),
    }


@require_GET
def nodeinfo(request: HttpRequest, version: str) -> HttpResponse:
    """NodeInfo 2.0 or 2.1 with exactly the schema's fields; node identity in ``metadata``."""
    if version not in ("2.0", "2.1"):
        return _error("NodeInfo versions 2.0 and 2.1 are served.", 404)
    software: dict[str, Any] = {"name": "redcloud", "version": str(settings.NODE_VERSION)}
    if version == "2.1":
        software["homepage"] = f"{settings.NODE_BASE_URL}/"
    doc = {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": settings.NODE_REGISTRATION != "closed",
        "usage": usage(),
        "metadata": {
            "nodeName": settings.NODE_NAME,
            "nodeRole": settings.NODE_ROLE,
            "regionCode": settings.NODE_REGION_CODE,
            "parent": settings.NODE_PARENT or None,
            "groups": Actor.objects.filter(local=True, type=ActorType.GROUP).count(),
        },
    }
    content_type = f'application/json; profile="{NODEINFO_NS}{version}#"'
    return _cors(HttpResponse(json.dumps(doc, ensure_ascii=False), content_type=content_type))
