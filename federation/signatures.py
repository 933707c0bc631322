"""HTTP signatures: draft-cavage-http-signatures-12 (what most of the fediverse speaks) and
RFC 9421 HTTP Message Signatures (arriving server by server), with RFC 3230 ``Digest`` and
RFC 9530 ``Content-Digest`` bodies: parsing, policy and verification of incoming signatures.

Three steps, so the inbox can refuse cheaply before it fetches any key:
``parse_signature`` (syntax, covered components, host, time window, body digest; no crypto),
then the caller finds the key named by ``SignedRequest.key_id``, then ``verify_signature``.
Signing outgoing requests is ``federation.signing``.
"""

from __future__ import annotations

import binascii
import calendar
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from federation.digests import DigestError, check_content_digest, check_digest, content_digest_header, digest_header
from federation.hosts import drop_default_port, host_of, normalise_host
from federation.rfc9421 import BaseError, extract
from federation.signing import CAVAGE, MONTHS, RFC9421, http_date, sign_request

# ``http_date`` and ``sign_request`` live in federation.signing; re-exported here for importers
# not yet moved (federation/sender.py, bench/, tests/bench, tests/learning). New code imports
# them from federation.signing.
__all__ = [
    "SignatureError",
    "SignedRequest",
    "content_digest_header",
    "digest_header",
    "http_date",
    "parse_signature",
    "sign_request",
    "verify_signature",
]

CAVAGE_ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})
RFC9421_ALGORITHMS = frozenset({"rsa-v1_5-sha256", "rsa-pss-sha512"})
MAX_HEADER = 8192
MAX_SIGNATURE_BYTES = 1024  # RSA-8192
MIN_KEY_BITS = 1024

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_SHA512 = hashes.SHA512()
_PSS_64 = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
_PSS_AUTO = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=padding.PSS.AUTO)
# (padding, hash) pairs tried per algorithm. Mastodon and most servers that announce
# "hs2019" really sign with RSASSA-PKCS1-v1_5 SHA-256; the draft's hs2019 suggests PSS/SHA-512.
_SCHEMES: dict[str, tuple[tuple[padding.AsymmetricPadding, hashes.HashAlgorithm], ...]] = {
    "rsa-sha256": ((_PKCS1, _SHA256),),
    "rsa-v1_5-sha256": ((_PKCS1, _SHA256),),
    "hs2019": ((_PKCS1, _SHA256), (_PSS_AUTO, _SHA512)),
    "rsa-pss-sha512": ((_PSS_64, _SHA512),),
    "": ((_PKCS1, _SHA256), (_PSS_AUTO, _SHA512)),  # RFC 9421 without `alg`: derived from the key
}
_MONTH_NUMBER = {m: i + 1 for i, m in enumerate(MONTHS)}
_IMF_FIXDATE = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) ([A-Z][a-z]{2}) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT$"
)
_CAVAGE_PARAM = re.compile(r'[\s,]*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"([^"]*)"|([0-9]{1,15}))\s*(?:,|$)')


class SignatureError(Exception):
    """The request's signature is missing, malformed, out of policy or wrong; ``reason`` is a
    human-readable sentence (the inbox answers 401 with it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A parsed, policy-checked signature awaiting the key of ``key_id``."""

    key_id: str
    scheme: str
    signing_string: bytes
    signature: bytes
    algorithm: str
    covered: tuple[str, ...]
    # Other signature bases the signer may equally have used (RFC 9421 ``@target-uri`` with
    # http instead of https when the receiver cannot know its public scheme).
    alternatives: tuple[bytes, ...] = ()


# --- parsing and policy ----------------------------------------------------------------------


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    # A non-text name or value fails here with AttributeError, turned into SignatureError.
    return {name.lower(): value for name, value in headers.items()}


@lru_cache(maxsize=256)
def _parse_date(value: str) -> float:
    match = _IMF_FIXDATE.match(value.strip())
    if match:
        day, month, year, hh, mm, ss = match.groups()
        number = _MONTH_NUMBER.get(month)
        if number is not None:
            try:
                return float(calendar.timegm((int(year), number, int(day), int(hh), int(mm), int(ss), 0, 0, 0)))
            except (ValueError, OverflowError):
                pass
    try:  # other RFC 7231 / RFC 2822 forms some servers still send
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise SignatureError(f"Date header {value[:40]!r} is not an HTTP date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _check_time(label: str, timestamp: float, now: float, skew: float) -> None:
    if timestamp > now + skew:
        raise SignatureError(f"{label} is {int(timestamp - now)} s in the future (allowed skew {int(skew)} s)")
    if timestamp < now - skew:
        raise SignatureError(f"{label} is {int(now - timestamp)} s old (allowed skew {int(skew)} s)")


@lru_cache(maxsize=4096)
def _check_key_id(key_id: str) -> None:
    if len(key_id) > 2048:
        raise SignatureError("keyId is too long")
    lowered = key_id[:8].lower()
    if not (lowered.startswith("https://") or lowered.startswith("http://")):
        raise SignatureError(f"keyId must be an http(s) URL, got {key_id[:60]!r}")
    try:
        host_of(key_id)
    except ValueError:
        raise SignatureError("keyId URL has no valid host") from None
    if not key_id.isascii() or any(c.isspace() or c < " " for c in key_id):
        raise SignatureError("keyId must be an ASCII URL without whitespace")


def _decode_signature(value: str) -> bytes:
    try:
        # What ``base64.b64decode(value, validate=True)`` does, without its per-call wrappers.
        raw = binascii.a2b_base64(value.strip().encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature is not valid base64") from None
    if not raw or len(raw) > MAX_SIGNATURE_BYTES:
        raise SignatureError("signature has an implausible length")
    return raw


@lru_cache(maxsize=1024)
def _host_key(value: str) -> str:
    return drop_default_port(normalise_host(value.strip()))


def _check_host(value: str, expected: str) -> None:
    try:
        host = _host_key(value)
    except ValueError:
        raise SignatureError(f"Host header {value[:60]!r} is not a host") from None
    if host != expected:
        raise SignatureError(f"request was signed for host {host!r}, not {expected!r}")


def _check_body(h: dict[str, str], body: bytes | None, header: str) -> None:
    value = h.get(header)
    if body is None:
        return  # nothing to check the digest against (GET, HEAD)
    if value is None:
        if body:
            raise SignatureError(f"a request with a body needs a {header.title()} header")
        return
    try:
        if header == "digest":
            check_digest(value, body)
        else:
            check_content_digest(value, body)
    except DigestError as exc:
        raise SignatureError(str(exc)) from None


def _cavage_params(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    pos, end = 0, len(value.rstrip())
    while pos < end:
        match = _CAVAGE_PARAM.match(value, pos)
        if not match or match.end() == pos:
            raise SignatureError(f"malformed Signature header near position {pos}")
        name = match.group(1).lower()
        if name in params:
            raise SignatureError(f"Signature parameter {name!r} given twice")
        params[name] = match.group(2) if match.group(2) is not None else match.group(3)
        pos = match.end()
    return params


_SIGNATURE_VALUE = re.compile(r'(?:^|(?<=,))\s*signature\s*=\s*"([^"]*)"\s*,?')


@lru_cache(maxsize=1024)
def _cavage_plan(rest: str) -> tuple[str, str, tuple[str, ...], dict[str, str]]:
    """(keyId, algorithm, covered headers, other params) of a cavage header without its
    signature value; raises SignatureError when they are out of policy."""
    params = _cavage_params(rest)
    if "signature" in params:
        raise SignatureError("Signature parameter 'signature' given twice")
    key_id = params.get("keyid")
    if not key_id:
        raise SignatureError("Signature has no keyId")
    _check_key_id(key_id)
    algorithm = (params.get("algorithm") or "hs2019").lower()
    if algorithm not in CAVAGE_ALGORITHMS:
        raise SignatureError(f"unsupported signature algorithm {algorithm[:40]!r} (rsa-sha256 or hs2019)")
    covered = tuple(params.get("headers", "date").lower().split())
    if not covered or len(covered) > 32 or len(set(covered)) != len(covered):
        raise SignatureError("Signature headers list is empty, too long or repeats a name")
    if "(request-target)" not in covered:
        raise SignatureError("signature does not cover (request-target)")
    if "host" not in covered:
        raise SignatureError("signature does not cover the host header")
    if "date" not in covered and "(created)" not in covered:
        raise SignatureError("signature covers neither date nor (created)")
    stamps = {k: v for k, v in params.items() if k in ("created", "expires")}
    return key_id, algorithm, covered, stamps


def _split_signature_value(value: str) -> tuple[str, str]:
    """(signature value, the header without it). Fast path: ``signature="..."`` is last, as
    Mastodon, Pleroma, Misskey and GoToSocial send it."""
    idx = value.rfind('signature="')
    if idx >= 0 and (idx == 0 or value[:idx].rstrip().endswith(",") or not value[:idx].strip()):
        close = value.find('"', idx + 11)
        if close >= 0 and not value[close + 1 :].strip(" ,"):
            return value[idx + 11 : close], value[:idx]
    match = _SIGNATURE_VALUE.search(value)
    if match is None:
        raise SignatureError("Signature has no signature value")
    return match.group(1), value[: match.start()] + value[match.end() :]


def _parse_cavage(
    method: str, path: str, h: dict[str, str], body: bytes | None, value: str, expected: str, now: float, skew: float
) -> SignedRequest:
    sig_value, rest = _split_signature_value(value)
    # Everything but the signature value (keyId, algorithm, headers) repeats from one request of
    # a sender to the next, so its parse and checks are cached; only the value is new each time.
    key_id, algorithm, covered, params = _cavage_plan(rest)
    signature = _decode_signature(sig_value)
    if body and "digest" not in covered:
        raise SignatureError("signature does not cover the body digest")
    lines = []
    for name in covered:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path}")
        elif name[0] == "(":
            stamp = params.get(name[1:-1])
            if stamp is None or not stamp.isdigit():
                raise SignatureError(f"{name} is covered but the {name[1:-1]} parameter is missing")
            lines.append(f"{name}: {stamp}")
        else:
            header_value = h.get(name)
            if header_value is None:
                raise SignatureError(f"signed header {name!r} is missing from the request")
            lines.append(f"{name}: {header_value.strip()}")
    _check_host(h["host"], expected)
    if "date" in h and "date" in covered:
        _check_time("Date", _parse_date(h["date"]), now, skew)
    if params:
        created, expires = params.get("created"), params.get("expires")
        if created is not None and created.isdigit():
            _check_time("created", float(created), now, skew)
        if expires is not None and expires.isdigit() and float(expires) < now:
            raise SignatureError("signature has expired")
    _check_body(h, body, "digest")
    try:
        signing_string = "\n".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise SignatureError("a signed header contains characters outside Latin-1") from None
    return SignedRequest(key_id, CAVAGE, signing_string, signature, algorithm, covered)


def _parse_rfc9421(
    method: str,
    path: str,
    h: dict[str, str],
    body: bytes | None,
    expected: str,
    expected_scheme: str | None,
    now: float,
    skew: float,
) -> SignedRequest:
    if "host" in h:
        _check_host(h["host"], expected)
    schemes = (expected_scheme,) if expected_scheme else ("https", "http")
    try:
        sig = extract(method, path, h, authority=expected, schemes=schemes)
    except BaseError as exc:
        raise SignatureError(str(exc)) from None
    _check_key_id(sig.key_id)
    if sig.algorithm and sig.algorithm not in RFC9421_ALGORITHMS:
        raise SignatureError(f"unsupported signature algorithm {sig.algorithm[:40]!r}")
    covered = set(sig.covered)
    if "@method" not in covered or not covered & {"@target-uri", "@path", "@request-target"}:
        raise SignatureError("signature does not cover the request method and target (@method, @target-uri)")
    if not covered & {"@target-uri", "@authority", "host"}:
        raise SignatureError("signature does not cover the host (@authority or @target-uri)")
    if sig.created is None:
        raise SignatureError("signature has no created parameter")
    _check_time("created", float(sig.created), now, skew)
    if sig.expires is not None and sig.expires < now:
        raise SignatureError("signature has expired")
    if "date" in covered:
        _check_time("Date", _parse_date(h["date"]), now, skew)
    if body and "content-digest" not in covered:
        raise SignatureError("signature does not cover the body (content-digest)")
    if len(sig.signature) > MAX_SIGNATURE_BYTES:
        raise SignatureError("signature has an implausible length")
    _check_body(h, body, "content-digest")
    return SignedRequest(
        sig.key_id, RFC9421, sig.bases[0], sig.signature, sig.algorithm, sig.covered, alternatives=sig.bases[1:]
    )


def parse_signature(
    method: str,
    path_with_query: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    expected_host: str,
    now: datetime | None = None,
    max_skew: timedelta = timedelta(hours=1),
    expected_scheme: str | None = None,
) -> SignedRequest:
    """Parse and policy-check the signature of an incoming request without any key: the scheme
    (cavage ``Signature`` / ``Authorization: Signature``, or RFC 9421), coverage of the request
    target, host, date/created and (with a body) the digest; host equal to ``expected_host``;
    time within ``max_skew`` both ways; digest matching ``body``; a supported algorithm; an
    http(s) keyId. Raises only SignatureError, whatever the input. ``expected_scheme`` is the
    public scheme for RFC 9421 ``@target-uri`` (None: https, with http accepted too)."""
    try:
        h = _lower_headers(headers)
        try:
            expected = _host_key(expected_host)
        except ValueError:
            raise SignatureError("this server's own host name is misconfigured") from None
        timestamp = now.timestamp() if now is not None else time.time()
        skew = max_skew.total_seconds()
        if "signature-input" in h:
            if len(h["signature-input"]) > MAX_HEADER or len(h.get("signature", "")) > MAX_HEADER:
                raise SignatureError("signature header is oversized")
            return _parse_rfc9421(method, path_with_query, h, body, expected, expected_scheme, timestamp, skew)
        value = h.get("signature")
        if value is None:
            auth = h.get("authorization", "")
            if auth[:10].lower() == "signature ":
                value = auth[10:]
        if not value:
            raise SignatureError("request is not signed (no Signature header)")
        if len(value) > MAX_HEADER:
            raise SignatureError("signature header is oversized")
        return _parse_cavage(method, path_with_query, h, body, value, expected, timestamp, skew)
    except SignatureError:
        raise
    except Exception as exc:  # hostile input must never escape as anything but SignatureError
        raise SignatureError(f"malformed signature headers ({type(exc).__name__})") from None


def verify_signature(signed: SignedRequest, public_key: rsa.RSAPublicKey) -> None:
    """Return if ``signed`` verifies with ``public_key``; raise SignatureError otherwise."""
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SignatureError("only RSA keys are supported")
    if public_key.key_size < MIN_KEY_BITS:
        raise SignatureError(f"RSA key of {public_key.key_size} bits is too small")
    schemes = _SCHEMES.get(signed.algorithm)
    if schemes is None:
        raise SignatureError(f"unsupported signature algorithm {signed.algorithm!r}")
    for data in (signed.signing_string, *signed.alternatives):
        for pad, digest in schemes:
            try:
                public_key.verify(signed.signature, data, pad, digest)
                return
            except InvalidSignature:
                continue
    raise SignatureError("signature does not match the signer's key")
