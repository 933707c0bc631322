"""Host normalisation, domain-block matching and the public-address test."""

from __future__ import annotations

import ipaddress

import pytest

from federation.hosts import host_of, is_public_address, is_subdomain_or_same, normalise_host


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("alice:secret@example.com", "example.com"),
        ("example.com:8443", "example.com:8443"),
        ("example.com:0080", "example.com:80"),
        ("Bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("中文.example:3000", "xn--fiq228c.example:3000"),
        ("[2001:DB8::0001]:8080", "[2001:db8::1]:8080"),
        ("[::1]", "[::1]"),
        ("::1", "[::1]"),
        ("127.0.0.1:8000", "127.0.0.1:8000"),
        ("localhost", "localhost"),
        ("_dmarc.example", "_dmarc.example"),
    ],
)
def test_normalise_host_canonical_form(value, expected):
    """Hosts are lowercased, IDNA-encoded, dot-stripped, userinfo-free, with ports and IPv6 kept canonical."""
    assert normalise_host(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "exa mple.com",
        "example..com",
        "-bad.example",
        "bad-.example",
        "a" * 64 + ".example",
        "example.com:",
        "example.com:65536",
        "example.com:abc",
        "[::1",
        "[::1]x",
        "[fe80::1%eth0]",
        "1.2.3.256",
        "999.1.1.1",
        "example.com/path",
        "exa\x00mple.com",
        "exa\\mple.com",
        "a?b",
        "ex#ample",
    ],
)
def test_normalise_host_rejects_garbage(value):
    """Anything that is not a host raises ValueError."""
    with pytest.raises(ValueError):
        normalise_host(value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Example.com:443/inbox", "example.com"),
        ("http://example.com:80/", "example.com"),
        ("http://example.com:443/", "example.com:443"),
        ("https://example.com:8443/x?y", "example.com:8443"),
        ("https://user@例え.jp/a", "xn--r8jz45g.jp"),
        ("http://[::1]:8000/inbox", "[::1]:8000"),
    ],
)
def test_host_of_drops_default_ports(url, expected):
    """host_of returns the normalised netloc without the scheme's default port."""
    assert host_of(url) == expected


@pytest.mark.parametrize("url", ["/relative/path", "mailto:a@b.example", "https://", "https://exa mple.com/"])
def test_host_of_rejects_urls_without_host(url):
    """URLs without a usable host raise ValueError."""
    with pytest.raises(ValueError):
        host_of(url)


@pytest.mark.parametrize(
    ("host", "domain", "covered"),
    [
        ("a.b.example", "b.example", True),
        ("b.example", "b.example", True),
        ("B.Example:8443", "b.example", True),
        ("b.example", "b.example:443", True),
        ("evilb.example", "b.example", False),
        ("b.example.evil", "b.example", False),
        ("example", "b.example", False),
        ("xn--bcher-kva.example", "bücher.example", True),
        ("[::1]", "[::1]", True),
    ],
)
def test_is_subdomain_or_same_for_domain_blocks(host, domain, covered):
    """A block of a domain covers it and its subdomains, never look-alike suffixes."""
    assert is_subdomain_or_same(host, domain) is covered


PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:0808:0808::1",
]
NOT_PUBLIC = [
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",  # noqa: S104
    "0.1.2.3",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.254",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.51.100.7",
    "203.0.113.9",
    "198.18.0.1",
    "192.0.0.8",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "2001:db8::1",
    "3fff::1",
    "100::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",
    "2002:7f00:0001::1",
    "2002:0a00:0001::",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:0000:4136:e378:8000:63bf:f5ff:fffe",
    "fec0::1",
    "::127.0.0.1",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_is_public_address_accepts_global_unicast(address):
    """Globally routable unicast addresses (also when wrapped around a public IPv4) are public."""
    assert is_public_address(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_is_public_address_refuses_internal_and_wrapped(address):
    """Private, loopback, link-local, CGNAT, multicast, reserved, documentation and wrapped internal addresses are not public."""
    assert is_public_address(ipaddress.ip_address(address)) is False
