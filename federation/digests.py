"""Body digests for signed requests: RFC 3230 ``Digest`` (draft-cavage senders: Mastodon,
Pleroma, Misskey...) and RFC 9530 ``Content-Digest`` (RFC 9421 senders)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable

_ALGORITHMS: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "sha-256": hashlib.sha256,
    "sha-512": hashlib.sha512,
}
_MAX_HEADER = 4096
_CONTENT_DIGEST_MEMBER = re.compile(r"^\s*([A-Za-z0-9*][A-Za-z0-9_.*-]*)\s*=\s*:([A-Za-z0-9+/=]*):\s*(?:;.*)?$")


class DigestError(ValueError):
    """The digest header is malformed, names no supported algorithm, or does not match."""


def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def digest_header(body: bytes) -> str:
    """``Digest`` value for ``body``: ``SHA-256=<base64>``."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def content_digest_header(body: bytes) -> str:
    """``Content-Digest`` value for ``body``: ``sha-256=:<base64>:``."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def _check(pairs: list[tuple[str, str]], body: bytes, header: str) -> str:
    """Every supported algorithm listed must match; at least one must be supported."""
    checked: list[str] = []
    for name, value in pairs:
        algorithm = _ALGORITHMS.get(name.lower())
        if algorithm is None:
            continue  # unknown algorithms are ignored while a known one is present (RFC 9530)
        try:
            claimed = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise DigestError(f"{header} value for {name} is not valid base64") from None
        if not hmac.compare_digest(claimed, algorithm(body).digest()):
            raise DigestError(f"{header} {name.upper()} does not match the body")
        checked.append(name.lower())
    if not checked:
        names = ", ".join(sorted({n.lower() for n, _ in pairs})) or "none"
        raise DigestError(f"{header} names no supported algorithm (got {names[:80]}; need SHA-256 or SHA-512)")
    return checked[0]


def check_digest(value: str, body: bytes) -> str:
    """Verify an RFC 3230 ``Digest`` header against ``body``; returns the algorithm used.
    Accepts ``SHA-256=...`` and ``SHA-512=...`` in any case, comma-separated."""
    if not value or len(value) > _MAX_HEADER:
        raise DigestError("Digest header is empty or oversized")
    # Fast path for what nearly every sender writes, one canonical ``SHA-256=<base64>``: equal
    # to the body's own digest header means it matches. Anything else takes the full parse.
    if value[:8].upper() == "SHA-256=" and value[8:] == _b64(hashlib.sha256(body).digest()):
        return "sha-256"
    pairs: list[tuple[str, str]] = []
    for member in value.split(","):
        name, sep, encoded = member.strip().partition("=")
        if not sep or not name:
            raise DigestError("malformed Digest header")
        pairs.append((name.strip(), encoded.strip()))
    return _check(pairs, body, "Digest")


def check_content_digest(value: str, body: bytes) -> str:
    """Verify an RFC 9530 ``Content-Digest`` header (``sha-256=:<b64>:``, also ``sha-512``,
    algorithm names in any case) against ``body``; returns the algorithm used."""
    if not value or len(value) > _MAX_HEADER:
        raise DigestError("Content-Digest header is empty or oversized")
    if value[:9].lower() == "sha-256=:" and value[9:] == _b64(hashlib.sha256(body).digest()) + ":":
        return "sha-256"  # the common single canonical member, equal to the body's own digest
    pairs: list[tuple[str, str]] = []
    for member in value.split(","):
        match = _CONTENT_DIGEST_MEMBER.match(member)
        if not match:
            raise DigestError("malformed Content-Digest header")
        pairs.append((match.group(1), match.group(2)))
    return _check(pairs, body, "Content-Digest")
