"""Signing outgoing requests: draft-cavage-http-signatures-12 ``Signature`` or RFC 9421
``Signature-Input``/``Signature``, with the body's RFC 3230 ``Digest`` or RFC 9530
``Content-Digest``.

``sign_request`` takes an already parsed key (see ``federation.keys.load_private_key``)
because parsing PEM costs ~100x the signature. Parsing and verifying incoming signatures is
``federation.signatures``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from federation.digests import content_digest_header, digest_header
from federation.hosts import host_of
from federation.structured_fields import serialize_bare

__all__ = ["CAVAGE", "DEFAULT_CONTENT_TYPE", "RFC9421", "http_date", "sign_request"]

CAVAGE = "cavage"
RFC9421 = "rfc9421"
DEFAULT_CONTENT_TYPE = "application/activity+json"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_MANAGED = frozenset({"host", "date", "digest", "content-digest", "signature", "signature-input", "content-type"})

_date_cache: tuple[int, str] = (-1, "")


def http_date(timestamp: float) -> str:
    """IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) for a POSIX timestamp; cached per second."""
    global _date_cache
    second = int(timestamp)
    cached = _date_cache
    if cached[0] == second:
        return cached[1]
    t = time.gmtime(second)
    text = (
        f"{WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
    _date_cache = (second, text)
    return text


@lru_cache(maxsize=4096)
def _target(url: str) -> tuple[str, str, str]:
    """(Host value, request-target path with query, normalised target URI) of a URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"cannot sign a request to a {scheme or 'relative'!s} URL")
    host = host_of(url)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return host, path, f"{scheme}://{host}{path}"


_DIGEST_CACHE_MAX_BODY = 64 * 1024


@lru_cache(maxsize=32)
def _cached_digest(body: bytes, scheme: str) -> str:
    return digest_header(body) if scheme == CAVAGE else content_digest_header(body)


def _body_digest(body: bytes, scheme: str) -> str:
    """The body's ``Digest`` (cavage) or ``Content-Digest`` (rfc9421) value. A fan-out signs
    one body for every inbox, so small bodies are cached (keyed by the body itself: ``bytes``
    caches its hash and the fan-out passes the same object, so a hit is an identity check)."""
    if len(body) > _DIGEST_CACHE_MAX_BODY:
        return digest_header(body) if scheme == CAVAGE else content_digest_header(body)
    return _cached_digest(body, scheme)


@lru_cache(maxsize=1024)
def _checked_key_id(key_id: str) -> str:
    if not key_id or len(key_id) > 2048 or not all(" " < c <= "~" for c in key_id) or '"' in key_id or "\\" in key_id:
        raise ValueError("key_id must be printable ASCII without quotes, backslashes or spaces")
    return key_id


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    key_id: str,
    private_key: rsa.RSAPrivateKey,
    scheme: str = CAVAGE,
    now: datetime | None = None,
) -> dict[str, str]:
    """Headers to send for this request: the given ones plus ``Host``, ``Date`` (IMF-fixdate),
    for a body ``Digest`` (cavage) or ``Content-Digest`` (rfc9421) and ``Content-Type`` (kept
    from ``headers``, else ``application/activity+json``), and the signature:
    cavage ``Signature`` over ``(request-target) host date digest content-type`` (without a
    body ``(request-target) host date`` plus ``accept`` when given), rsa-sha256; or RFC 9421
    ``Signature-Input``/``Signature`` labelled ``sig1`` over ``@method @target-uri
    content-digest content-type`` (GET: ``@method @target-uri``), rsa-v1_5-sha256.
    Raises ValueError for a non-http(s) URL, a bad key_id or an unknown scheme."""
    host, path, target_uri = _target(url)
    _checked_key_id(key_id)
    timestamp = now.timestamp() if now is not None else time.time()
    date = http_date(timestamp)
    out: dict[str, str] = {}
    content_type = None
    accept = None
    for name, value in headers.items():
        lname = name.lower()
        if lname == "content-type":
            content_type = value
        elif lname == "accept":
            accept = value
        if lname not in _MANAGED:
            out[name] = value
    out["Host"] = host
    out["Date"] = date
    verb = method.upper()
    if body is not None:
        content_type = content_type or DEFAULT_CONTENT_TYPE
        out["Content-Type"] = content_type
    if scheme == CAVAGE:
        if body is not None:
            digest = _body_digest(body, CAVAGE)
            out["Digest"] = digest
            names = "(request-target) host date digest content-type"
            text = (
                f"(request-target): {verb.lower()} {path}\nhost: {host}\ndate: {date}\n"
                f"digest: {digest}\ncontent-type: {content_type}"
            )
        else:
            names = "(request-target) host date"
            text = f"(request-target): {verb.lower()} {path}\nhost: {host}\ndate: {date}"
            if accept is not None:
                names += " accept"
                text += f"\naccept: {accept.strip()}"
        signature = base64.b64encode(private_key.sign(text.encode("latin-1"), _PKCS1, _SHA256)).decode("ascii")
        out["Signature"] = f'keyId="{key_id}",algorithm="rsa-sha256",headers="{names}",signature="{signature}"'
    elif scheme == RFC9421:
        if body is not None:
            digest = _body_digest(body, RFC9421)
            out["Content-Digest"] = digest
            components = '("@method" "@target-uri" "content-digest" "content-type")'
            base = (
                f'"@method": {verb}\n"@target-uri": {target_uri}\n'
                f'"content-digest": {digest}\n"content-type": {content_type}\n'
            )
        else:
            components = '("@method" "@target-uri")'
            base = f'"@method": {verb}\n"@target-uri": {target_uri}\n'
        params = f'{components};created={int(timestamp)};keyid={serialize_bare(key_id)};alg="rsa-v1_5-sha256"'
        base += f'"@signature-params": {params}'
        signature = base64.b64encode(private_key.sign(base.encode("latin-1"), _PKCS1, _SHA256)).decode("ascii")
        out["Signature-Input"] = f"sig1={params}"
        out["Signature"] = f"sig1=:{signature}:"
    else:
        raise ValueError(f"unknown signature scheme {scheme!r}")
    return out
