"""ActivityStreams vocabulary helpers: contexts, media types, and tolerant accessors for the
shapes peers actually send (a string or a list, an id or an embedded object)."""

from __future__ import annotations

from typing import Any

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
# Peers write the public collection three ways (Pleroma and older Mastodon use the compact forms).
PUBLIC_FORMS = frozenset({PUBLIC, "as:Public", "Public"})

AP_CONTENT_TYPE = "application/activity+json"
LD_CONTENT_TYPE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
ACTOR_TYPES = frozenset({"Person", "Group", "Application", "Service", "Organization"})

# Terms we use beyond AS2 + security, declared inline so no context document is ever fetched.
EXTRA_CONTEXT: dict[str, Any] = {
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "toot": "http://joinmastodon.org/ns#",
    "discoverable": "toot:discoverable",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "sensitive": "as:sensitive",
    "redcloud": "https://redcloud.example/ns#",
}
CONTEXT: list[Any] = [AS_CONTEXT, SECURITY_CONTEXT, EXTRA_CONTEXT]


def as_list(value: Any) -> list[Any]:
    """``None`` → [], a scalar or object → [it], a list → itself."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def id_of(value: Any) -> str | None:
    """The id of an id-or-object value (``"https://..."`` or ``{"id": ...}``), else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        ident = value.get("id")
        return ident if isinstance(ident, str) else None
    return None


def ids_of(value: Any) -> list[str]:
    """Ids of a string/object/list value, skipping anything without an id."""
    return [i for i in (id_of(v) for v in as_list(value)) if i]


def type_of(value: Any) -> str | None:
    """The ``type`` of an embedded object (first one when a list), else None."""
    if isinstance(value, dict):
        kind = value.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if isinstance(k, str)), None)
        return kind if isinstance(kind, str) else None
    return None


def is_public(activity: dict[str, Any]) -> bool:
    """True when ``to`` or ``cc`` (of the activity or its embedded object) names the public collection."""
    targets = ids_of(activity.get("to")) + ids_of(activity.get("cc"))
    obj = activity.get("object")
    if isinstance(obj, dict):
        targets += ids_of(obj.get("to")) + ids_of(obj.get("cc"))
    return any(t in PUBLIC_FORMS for t in targets)


def wants_activitypub(accept: str) -> bool:
    """True when an Accept header asks for AS2 (activity+json, or ld+json with the AS profile,
    or plain ld+json which some peers send) rather than HTML."""
    accept = accept.lower()
    return "application/activity+json" in accept or "application/ld+json" in accept
