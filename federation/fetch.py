"""Fetching remote ActivityPub documents and WebFinger records from their origin.

A fetched document is trusted only for what its origin says about itself: its ``id`` must be
the URL we finally read it from (one refetch from the claimed ``id`` is allowed when that id
is on the same host, as Mastodon does), its content type must be an ActivityPub one (so an
HTML login page never parses as an object), and actor documents must keep their inboxes and
keys on their own host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urldefrag, urlsplit

from django.conf import settings

from federation.hosts import host_of, normalise_host, strip_port
from federation.jsonsafe import JSONError, loads_activity
from federation.transport import Response, Signer, Transport, TransportError, get_transport

__all__ = [
    "ACTOR_TYPES",
    "AP_ACCEPT",
    "FetchError",
    "actor_url_from_jrd",
    "check_actor_document",
    "fetch_actor_document",
    "fetch_document",
    "parse_acct",
    "scheme_for",
    "webfinger",
]

AP_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
JRD_ACCEPT = "application/jrd+json, application/json"
AP_MEDIA_TYPES = frozenset({"application/activity+json", "application/ld+json"})
ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})
WEBFINGER_MAX_BYTES = 256 * 1024


class FetchError(Exception):
    """A remote document could not be fetched or was not acceptable.

    ``status`` is the HTTP status when the peer answered (404/410 = gone), else None;
    ``retryable`` is True for network failures, timeouts, 429 and 5xx.
    """

    def __init__(self, reason: str, status: int | None = None, *, retryable: bool = False) -> None:
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.reason = reason
        self.status = status
        self.retryable = retryable


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _check_status(response: Response, url: str) -> None:
    status = response.status
    if status in (404, 410):
        raise FetchError(f"gone: {url}", status)
    if not 200 <= status < 300:
        raise FetchError(f"unexpected status from {url}", status, retryable=status == 429 or status >= 500)


def _get(transport: Transport, url: str, *, accept: str, signer: Signer | None, max_bytes: int) -> Response:
    try:
        return transport.get(url, headers={"Accept": accept}, sign=signer, max_bytes=max_bytes)
    except TransportError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc.reason}", retryable=True) from exc


def _get_document(transport: Transport, url: str, signer: Signer | None, max_bytes: int) -> tuple[dict[str, Any], str]:
    """One signed GET of an AS2 document: (document, final URL after redirects)."""
    response = _get(transport, url, accept=AP_ACCEPT, signer=signer, max_bytes=max_bytes)
    _check_status(response, url)
    media_type = _media_type(response.headers.get("Content-Type"))
    if media_type not in AP_MEDIA_TYPES:
        raise FetchError(f"not an ActivityPub document ({media_type or 'no content type'}): {url}", response.status)
    try:
        doc = loads_activity(response.body)
    except JSONError as exc:
        raise FetchError(f"invalid JSON from {url}: {exc.reason}", response.status) from exc
    return doc, response.url


def fetch_document(
    url: str,
    *,
    signer: Signer | None = None,
    transport: Transport | None = None,
    max_bytes: int = 1_048_576,
) -> dict[str, Any]:
    """Fetch the AS2 document at ``url`` (fragment dropped), signed by ``signer`` if given.

    Guarantees the returned document's ``id`` equals the URL it was finally read from. When the
    ``id`` differs but is on the same host as that URL, the claimed ``id`` is fetched once and
    must itself satisfy the rule. Raises :class:`FetchError` otherwise (404/410 keep ``status``).
    """
    transport = transport or get_transport()
    url = urldefrag(url)[0]
    doc, final_url = _get_document(transport, url, signer, max_bytes)
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or not doc_id:
        raise FetchError(f"document without an id: {url}")
    if doc_id == final_url:
        return doc
    try:
        same_host = host_of(doc_id) == host_of(final_url)
    except ValueError:
        same_host = False
    if not same_host:
        raise FetchError(f"document from {final_url} claims a foreign id {doc_id[:200]}")
    # Same host, other URL (e.g. GoToSocial's key URL serving the actor, or a Mastodon
    # /@user redirect): the id's own URL is authoritative; one terminal refetch, no chain.
    refetched, refetch_url = _get_document(transport, doc_id, signer, max_bytes)
    if refetched.get("id") != refetch_url:
        raise FetchError(f"document at {doc_id[:200]} does not carry its own id")
    return refetched


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _same_host(url: Any, actor_id: str) -> bool:
    if not isinstance(url, str):
        return False
    try:
        return host_of(url) == host_of(actor_id)
    except ValueError:
        return False


def check_actor_document(doc: Mapping[str, Any], *, key_id: str | None = None) -> dict[str, Any]:
    """Check an actor document's shape; returns the chosen public key object.

    Guarantees: ``type`` is an actor type; ``inbox`` (and ``endpoints.sharedInbox`` /
    ``sharedInbox`` when present) are http(s) URLs on the actor's own host; ``publicKey``
    (one object, or a list: the entry whose ``id`` is ``key_id``, else the first) has an
    ``id``, ``owner`` equal to the actor ``id`` and a ``publicKeyPem``. Raises FetchError.
    """
    actor_id = doc.get("id")
    if not isinstance(actor_id, str) or not _is_http_url(actor_id):
        raise FetchError("actor without an http(s) id")
    kinds = doc.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if not any(isinstance(k, str) and k in ACTOR_TYPES for k in kinds):
        raise FetchError(f"not an actor type: {str(doc.get('type'))[:60]}")
    inbox = doc.get("inbox")
    if not _is_http_url(inbox) or not _same_host(inbox, actor_id):
        raise FetchError("actor inbox missing, not http(s) or on another host")
    endpoints = doc.get("endpoints")
    shared = [endpoints.get("sharedInbox")] if isinstance(endpoints, dict) else []
    shared.append(doc.get("sharedInbox"))  # some older servers put it at the top level
    for value in shared:
        if value is not None and (not _is_http_url(value) or not _same_host(value, actor_id)):
            raise FetchError("actor sharedInbox not http(s) or on another host")
    keys = doc.get("publicKey")
    candidates = [k for k in (keys if isinstance(keys, list) else [keys]) if isinstance(k, dict)]
    if not candidates:
        raise FetchError("actor without a publicKey")
    key = next((k for k in candidates if key_id and k.get("id") == key_id), candidates[0])
    if not isinstance(key.get("id"), str) or not key["id"]:
        raise FetchError("publicKey without an id")
    if key.get("owner") != actor_id:
        raise FetchError("publicKey owner is not the actor")
    pem = key.get("publicKeyPem")
    if not isinstance(pem, str) or "PUBLIC KEY" not in pem:
        raise FetchError("publicKey without a publicKeyPem")
    return key


def fetch_actor_document(
    url: str,
    *,
    signer: Signer | None = None,
    transport: Transport | None = None,
    key_id: str | None = None,
) -> dict[str, Any]:
    """:func:`fetch_document` plus :func:`check_actor_document`; returns the document unchanged."""
    doc = fetch_document(url, signer=signer, transport=transport)
    check_actor_document(doc, key_id=key_id)
    return doc


# -- WebFinger (RFC 7033) ----------------------------------------------------------------


def parse_acct(acct: str) -> tuple[str, str]:
    """Split ``acct:user@host``, ``user@host`` or ``@user@host`` into (user, normalised host)."""
    value = acct.strip()
    if value.lower().startswith("acct:"):
        value = value[5:]
    value = value.lstrip("@")
    user, sep, host = value.rpartition("@")
    if not sep or not user or not host or "@" in user or "/" in user:
        raise FetchError(f"not an account address: {acct[:100]!r}")
    try:
        return user, normalise_host(host)
    except ValueError as exc:
        raise FetchError(f"bad host in {acct[:100]!r}: {exc}") from exc


def scheme_for(host: str, *, allow_private: bool | None = None) -> str:
    """``http`` for a loopback host or a host with a port when private addresses are allowed
    (local networks, devnet, tests); ``https`` everywhere else."""
    if allow_private is None:
        allow_private = bool(getattr(settings, "FEDERATION_ALLOW_PRIVATE_ADDRESSES", False))
    if not allow_private:
        return "https"
    host = normalise_host(host)
    name = strip_port(host)
    if name != host or name == "localhost":
        return "http"
    try:
        if ipaddress.ip_address(name.strip("[]")).is_loopback:
            return "http"
    except ValueError:
        pass
    return "https"


def webfinger(acct: str, *, transport: Transport | None = None) -> dict[str, Any]:
    """Look up ``acct`` with WebFinger on its host; returns the JRD (a dict).

    Raises FetchError: ``status`` 404/410 when the account does not exist there.
    """
    transport = transport or get_transport()
    user, host = parse_acct(acct)
    scheme = scheme_for(host, allow_private=transport.allow_private)
    resource = quote(f"acct:{user}@{host}", safe="@:")
    url = f"{scheme}://{host}/.well-known/webfinger?resource={resource}"
    response = _get(transport, url, accept=JRD_ACCEPT, signer=None, max_bytes=WEBFINGER_MAX_BYTES)
    _check_status(response, url)
    try:
        jrd = loads_activity(response.body)
    except JSONError as exc:
        raise FetchError(f"invalid WebFinger JSON from {host}: {exc.reason}", response.status) from exc
    if not isinstance(jrd.get("links", []), list):
        raise FetchError(f"WebFinger links of {host} is not a list", response.status)
    return jrd


def actor_url_from_jrd(jrd: Mapping[str, Any]) -> str:
    """The ActivityPub actor URL in a JRD: the ``self`` link typed ``application/activity+json``
    or ``application/ld+json`` with the ActivityStreams profile. Raises FetchError if none."""
    links = jrd.get("links")
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        kind = str(link.get("type") or "")
        media = _media_type(kind)
        is_ap = media == "application/activity+json" or (
            media == "application/ld+json" and "https://www.w3.org/ns/activitystreams" in kind
        )
        href = link.get("href")
        if is_ap and _is_http_url(href):
            return str(href)
    raise FetchError("no ActivityPub self link in the WebFinger record")
