"""Host names and addresses: one normal form for comparing hosts (signatures, domain blocks,
same-origin checks) and the public-address test behind the SSRF guard.

Pure functions: only ``ipaddress`` and ``idna``; no DNS, no network.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit

import idna

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_MAX_HOST = 253


def _ascii_host(host: str) -> str:
    """Lowercase A-label form of a DNS name (no port), or ValueError."""
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > _MAX_HOST * 4:
        raise ValueError("empty or oversized host name")
    if host.isascii():
        host = host.lower()
    else:
        try:
            host = idna.encode(host, uts46=True, std3_rules=False).decode("ascii").lower()
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise ValueError(f"invalid internationalised host name: {exc}") from None
    if len(host) > _MAX_HOST:
        raise ValueError("host name longer than 253 characters")
    labels = host.split(".")
    for label in labels:
        if not _LABEL_RE.match(label):
            raise ValueError(f"invalid host label {label!r}")
    if labels[-1].isdigit():
        # All-numeric last label: only a valid dotted IPv4 literal is acceptable.
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise ValueError(f"invalid IPv4 address {host!r}") from None
    return host


def _split_port(value: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` / ``[v6][:port]``; the host part is returned as written."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError("unterminated IPv6 literal")
        host, rest = value[: end + 1], value[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError("garbage after IPv6 literal")
        return host, rest[1:]
    if value.count(":") > 1:  # a bare IPv6 literal without brackets and without a port
        return value, None
    host, sep, port = value.partition(":")
    return host, (port if sep else None)


@lru_cache(maxsize=4096)
def normalise_host(value: str) -> str:
    """Return the canonical ``host[:port]``: lowercase, IDNA A-labels, one trailing dot removed,
    userinfo stripped, an explicit port kept (leading zeros removed), IPv6 bracketed and
    compressed. Raises ValueError for anything that is not a host."""
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise ValueError("empty or oversized host")
    if any(ch.isspace() or ord(ch) < 0x20 or ch in "/\\?#" for ch in value):
        raise ValueError("host contains whitespace, control characters or URL delimiters")
    value = value.rpartition("@")[2]
    host, port = _split_port(value)
    if port is not None:
        if not _PORT_RE.match(port) or not 0 < int(port) <= 65535:
            raise ValueError(f"invalid port {port!r}")
        port = str(int(port))
    if host.startswith("[") or ":" in host:
        try:
            address = ipaddress.IPv6Address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            raise ValueError(f"invalid IPv6 literal {host!r}") from None
        if "%" in host:
            raise ValueError("IPv6 zone identifiers are not accepted")
        host = f"[{address.compressed}]"
    else:
        host = _ascii_host(host)
    return f"{host}:{port}" if port else host


def strip_port(host: str) -> str:
    """The host part of a normalised ``host[:port]`` (brackets of IPv6 literals kept)."""
    if host.startswith("["):
        return host[: host.index("]") + 1]
    return host.partition(":")[0]


def drop_default_port(host: str) -> str:
    """A normalised host with ``:80`` or ``:443`` removed (used where the scheme is unknown)."""
    for port in (":80", ":443"):
        if host.endswith(port):
            return host[: -len(port)]
    return host


@lru_cache(maxsize=4096)
def host_of(url: str) -> str:
    """Normalised ``host[:port]`` of an absolute URL; 80 for http and 443 for https are dropped.
    Raises ValueError when the URL has no host."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"invalid URL: {exc}") from None
    if not parts.netloc:
        raise ValueError(f"URL without a host: {url[:80]!r}")
    host = normalise_host(parts.netloc)
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    if default and host.endswith(":" + default):
        host = host[: -len(default) - 1]
    return host


def is_subdomain_or_same(host: str, domain: str) -> bool:
    """True when ``host`` is ``domain`` or below it (``a.b.example`` is covered by ``b.example``).
    Ports are ignored; both sides are normalised first (ValueError on garbage)."""
    h = strip_port(normalise_host(host))
    d = strip_port(normalise_host(domain))
    return h == d or (not d.startswith("[") and h.endswith("." + d))


_V4_NOT_PUBLIC = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes 255.255.255.255
    )
)
_V6_NOT_PUBLIC = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/8",  # unspecified, loopback, IPv4-compatible (deprecated)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo is unwrapped before this check)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a transition mechanism would really reach, if ``ip`` wraps one."""
    if ip in _V4_MAPPED:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    if ip in _TEREDO:
        teredo = ip.teredo
        return teredo[1] if teredo else None
    return None


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses. Private, loopback, link-local,
    multicast, reserved, unspecified, CGNAT and documentation ranges are refused, also when
    wrapped in IPv4-mapped, NAT64 (64:ff9b::/96), 6to4 or Teredo IPv6 addresses."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return is_public_address(inner)
        if any(ip in net for net in _V6_NOT_PUBLIC):
            return False
    elif any(ip in net for net in _V4_NOT_PUBLIC):
        return False
    return bool(
        ip.is_global
        and not (
            ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
        )
    )
