"""The inbox views (per actor and shared): verify, store, answer 202. Workers process.

Order of checks (each failure stores, fetches and sends nothing, except the key fetch that
authentication itself needs): size (413) → content type (415) → JSON (400) → shape (400) →
signature syntax, covered headers, host, date, digest (401) → domain blocks of the key and
the actor (403) → rate limit per domain (429) → origin: activity id, actor and key on one
host, never our own (403) → key resolution and verification (401) → the key's owner is the
activity's actor (401) → store (a replay of a known id is acknowledged, not stored again) → 202.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from federation.hosts import host_of, normalise_host
from federation.inbound import schedule_drain
from federation.jsonsafe import JSONError, loads_activity
from federation.keys import load_public_key
from federation.models import Actor, InboxItem, InboxItemState
from federation.policy import allow_inbound, is_blocked
from federation.resolve import ResolveError, actor_for_key
from federation.signatures import SignatureError, parse_signature, verify_signature
from federation.vocab import id_of

log = logging.getLogger(__name__)

ACCEPTED_TYPES = ("application/activity+json", "application/ld+json", "application/json")


def _refuse(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _host(url: str) -> str:
    try:
        return host_of(url)
    except ValueError:
        return ""


@csrf_exempt
def inbox_view(request: HttpRequest, actor_pk: int | None = None) -> HttpResponse:
    """POST an activity to a local actor's inbox (``actor_pk``) or to the shared inbox."""
    if request.method != "POST":
        response = _refuse(405, "Inboxes accept POST only.")
        response["Allow"] = "POST"
        return response
    limit = int(settings.FEDERATION_MAX_BODY_BYTES)
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        return _refuse(413, f"Activities are limited to {limit} bytes.")
    try:
        body = request.body
    except RequestDataTooBig:
        return _refuse(413, f"Activities are limited to {limit} bytes.")
    if len(body) > limit:
        return _refuse(413, f"Activities are limited to {limit} bytes.")
    content_type = (request.content_type or "").lower()
    if content_type not in ACCEPTED_TYPES:
        return _refuse(415, "Send application/activity+json (or application/ld+json with the AS2 profile).")
    try:
        activity = loads_activity(body)
    except JSONError as exc:
        return _refuse(400, f"Malformed JSON: {exc}")
    activity_id, kind, actor_id = activity.get("id"), activity.get("type"), id_of(activity.get("actor"))
    if not isinstance(activity_id, str) or not activity_id.startswith(("https://", "http://")):
        return _refuse(400, "The activity needs an http(s) 'id'.")
    if not isinstance(kind, str) or not kind:
        return _refuse(400, "The activity needs a 'type'.")
    if not actor_id or not actor_id.startswith(("https://", "http://")):
        return _refuse(400, "The activity needs an 'actor' id.")

    recipient: Actor | None = None
    if actor_pk is not None:
        recipient = Actor.objects.filter(pk=actor_pk, local=True, suspended=False).first()
        if recipient is None:
            return _refuse(404, "No such inbox.")

    try:
        signed = parse_signature(
            "POST",
            request.get_full_path(),
            request.headers,
            body,
            expected_host=str(settings.NODE_DOMAIN),
        )
    except SignatureError as exc:
        return _refuse(401, f"Signature refused: {exc.reason}")

    key_host, actor_host, id_host = _host(signed.key_id), _host(actor_id), _host(activity_id)
    if is_blocked(key_host) or is_blocked(actor_host):
        return _refuse(403, "This node does not accept activities from your domain.")
    if not allow_inbound(key_host):
        return _refuse(429, "Too many activities from your domain; retry later.")
    ours = normalise_host(str(settings.NODE_DOMAIN))
    if ours in (key_host, actor_host, id_host):
        return _refuse(403, "Activities of this node's own domain are not accepted from outside.")
    if not key_host or not (key_host == actor_host == id_host):
        return _refuse(403, "The activity id, its actor and the signing key must be on one host.")

    # Mastodon announces account deletions to every server it ever talked to; the key is gone
    # with the account, so an unknown actor deleting itself is acknowledged and dropped unfetched.
    if kind == "Delete" and id_of(activity.get("object")) == actor_id:
        if not Actor.objects.filter(ap_id=actor_id).exists():
            return HttpResponse(status=202)

    error = _authenticate(signed, actor_id)
    if error:
        return _refuse(401, error)
    return _store(activity, body, actor_id, actor_host, recipient)


def _authenticate(signed: Any, actor_id: str) -> str | None:
    """Resolve the key (refetching once on failure) and verify; None when authentic."""
    try:
        owner = actor_for_key(signed.key_id)
    except ResolveError as exc:
        return f"Key not usable: {exc.reason}"
    try:
        verify_signature(signed, load_public_key(owner.public_key_pem))
    except (SignatureError, ValueError):
        try:  # the key may have been rotated: refetch once (rate-limited per key)
            owner = actor_for_key(signed.key_id, refresh=True)
            verify_signature(signed, load_public_key(owner.public_key_pem))
        except (ResolveError, SignatureError, ValueError):
            return "Signature does not verify with the actor's current key."
    if owner.ap_id != actor_id:
        return "The signing key does not belong to the activity's actor."
    if owner.suspended:
        return "The signing actor is suspended on this node."
    return None


_INSERT = (
    f"INSERT INTO {InboxItem._meta.db_table} (activity_id, activity_type, actor_id, domain, recipient_id, body,"  # noqa: S608 - table name from our own model
    " state, state_changed_at, attempts, error, received_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, '', %s) ON CONFLICT (activity_id) DO NOTHING"
)


def _store(activity: dict[str, Any], body: bytes, actor_id: str, domain: str, recipient: Actor | None) -> HttpResponse:
    """Insert the item and schedule processing once it is committed. A known id is a replay:
    acknowledged, not stored again.

    One SQL statement (``ON CONFLICT DO NOTHING``), its own transaction in autocommit: one round
    trip to the database and no exception path for replays; this is the inbox's hot path (B3).
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                activity["id"],
                str(activity["type"])[:64],
                actor_id,
                domain,
                recipient.pk if recipient is not None else None,
                body.decode("utf-8"),
                InboxItemState.RECEIVED,
                now,
                now,
            ],
        )
        inserted = cursor.rowcount == 1
    if inserted:
        transaction.on_commit(schedule_drain)  # at once in autocommit; after the caller's transaction otherwise
    else:
        log.info("replayed activity %s acknowledged and dropped", activity["id"])
    return HttpResponse(status=202)
