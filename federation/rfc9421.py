"""RFC 9421 signature bases for requests: read ``Signature-Input``/``Signature``, compute the
covered component values and the ``@signature-params`` line. Policy (which components must be
covered, time window, key id form) lives in ``federation.signatures``."""

from __future__ import annotations

from dataclasses import dataclass

from federation.structured_fields import SFError, Token, parse_dictionary, serialize_inner_list

DERIVED = frozenset({"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query"})
MAX_COMPONENTS = 32


class BaseError(ValueError):
    """The signature headers cannot be turned into a signature base."""


@dataclass(frozen=True, slots=True)
class Rfc9421Signature:
    """One signature of a request, with the base(s) it must verify against."""

    label: str
    key_id: str
    algorithm: str  # "" when the signer gave no ``alg`` (derived from the key)
    created: int | None
    expires: int | None
    covered: tuple[str, ...]
    signature: bytes
    bases: tuple[bytes, ...]


def _component_value(name: str, method: str, target: str, authority: str, scheme: str, h: dict[str, str]) -> str:
    if name.startswith("@"):
        if name == "@method":
            return method.upper()
        if name == "@target-uri":
            return f"{scheme}://{authority}{target}"
        if name == "@authority":
            return authority
        if name == "@scheme":
            return scheme
        if name == "@request-target":
            return target
        if name == "@path":
            return target.partition("?")[0] or "/"
        if name == "@query":
            return "?" + target.partition("?")[2]
        raise BaseError(f"unsupported derived component {name!r}")
    value = h.get(name)
    if value is None:
        raise BaseError(f"signed header {name!r} is missing from the request")
    return value.strip()


def extract(
    method: str,
    path_with_query: str,
    headers: dict[str, str],
    *,
    authority: str,
    schemes: tuple[str, ...] = ("https",),
    label: str | None = None,
) -> Rfc9421Signature:
    """Parse the request's RFC 9421 signature (label ``label``, else ``sig1``, else the first
    one) and build its signature base for each candidate scheme. ``headers`` has lowercase names;
    ``authority`` is the normalised host the request was sent to. Raises BaseError."""
    try:
        inputs = parse_dictionary(headers.get("signature-input", ""))
        signatures = parse_dictionary(headers.get("signature", ""))
    except SFError as exc:
        raise BaseError(f"malformed Signature-Input or Signature header: {exc}") from None
    if not inputs:
        raise BaseError("Signature-Input is empty")
    if label is None:
        label = "sig1" if "sig1" in inputs else next(iter(inputs))
    if label not in inputs:
        raise BaseError(f"no signature labelled {label!r}")
    items, params = inputs[label]
    if not isinstance(items, list):
        raise BaseError("Signature-Input member is not an inner list")
    sig_value = signatures.get(label)
    if sig_value is None or not isinstance(sig_value[0], bytes) or not sig_value[0]:
        raise BaseError(f"no Signature value for {label!r}")
    if len(items) > MAX_COMPONENTS:
        raise BaseError("too many covered components")
    covered: list[str] = []
    for item, item_params in items:
        if not isinstance(item, str) or isinstance(item, Token):
            raise BaseError("covered components must be strings")
        if item_params:
            raise BaseError(f"component parameters are not supported ({item!r})")
        if item != item.lower() or (item.startswith("@") and item not in DERIVED):
            raise BaseError(f"unsupported component {item!r}")
        if item in covered:
            raise BaseError(f"component {item!r} is covered twice")
        covered.append(item)
    named = dict(params)
    key_id, algorithm = named.get("keyid"), named.get("alg", "")
    created, expires = named.get("created"), named.get("expires")
    if not isinstance(key_id, str) or not key_id:
        raise BaseError("signature has no keyid parameter")
    if not isinstance(algorithm, str):
        raise BaseError("alg parameter must be a string")
    for stamp in (created, expires):
        if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int)):
            raise BaseError("created and expires must be integers")
    params_line = '"@signature-params": ' + serialize_inner_list(items, params)
    bases = []
    for scheme in schemes:
        lines = [
            f'"{name}": {_component_value(name, method, path_with_query, authority, scheme, headers)}'
            for name in covered
        ]
        lines.append(params_line)
        try:
            bases.append("\n".join(lines).encode("latin-1"))
        except UnicodeEncodeError:
            raise BaseError("a signed header contains characters outside Latin-1") from None
        if "@target-uri" not in covered and "@scheme" not in covered:
            break  # the scheme is not part of the base: one candidate is enough
    return Rfc9421Signature(
        label=label,
        key_id=key_id,
        algorithm=algorithm.lower(),
        created=created if isinstance(created, int) else None,
        expires=expires if isinstance(expires, int) else None,
        covered=tuple(covered),
        signature=sig_value[0],
        bases=tuple(bases),
    )
