"""HTTP signatures: published test vectors, round trips and every refusal path."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from federation.rfc9421 import BaseError, extract
from federation.signatures import (
    SignatureError,
    SignedRequest,
    content_digest_header,
    digest_header,
    parse_signature,
    verify_signature,
)
from federation.signing import sign_request

VECTORS = Path(__file__).parent / "vectors"
KEY_ID = "https://sender.example/actors/1#main-key"
INBOX = "https://receiver.example/inbox"
BODY = b'{"type": "Create", "object": {"content": "\xe0\xbd\x96\xe0\xbd\xbc\xe0\xbd\x91"}}'


def _load_private(name: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((VECTORS / name).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _load_public(name: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key((VECTORS / name).read_bytes())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _signed(key, scheme="cavage", body=BODY, method="POST", url=INBOX, headers=None, now=None):
    base = {"Content-Type": "application/activity+json"} if headers is None else headers
    return sign_request(method, url, base, body, key_id=KEY_ID, private_key=key, scheme=scheme, now=now)


def _parse(headers, body=BODY, method="POST", path="/inbox", host="receiver.example", **kw):
    return parse_signature(method, path, headers, body, expected_host=host, **kw)


# --- draft-cavage-http-signatures-12, Appendix C --------------------------------------------

CAVAGE_DATE = "Sun, 05 Jan 2014 21:31:40 GMT"
CAVAGE_NOW = datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC)
CAVAGE_BODY = b'{"hello": "world"}'
CAVAGE_HEADERS = {
    "Host": "example.com",
    "Date": CAVAGE_DATE,
    "Content-Type": "application/json",
    "Digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "Content-Length": "18",
}
C1_SIGNATURE = (
    "SjWJWbWN7i0wzBvtPl8rbASWz5xQW6mcJmn+ibttBqtifLN7Sazz6m79cNfwwb8DMJ5cou1s7uEGKKCs+FLEEaDV5lp7q25WqS+lav"
    "g7T8hc0GppauB6hbgEKTwblDHYGEtbGmtdHgVCk9SuS13F0hZ8FD0k/5OxEPXe5WozsbM="
)
C2_SIGNATURE = (
    "qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8VfEdKFYRqzi"
    "c+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="
)
C3_SIGNATURE = (
    "vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q52LaEUHFv120V01IL+"
    "TAD48XaERZFukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE="
)
C3_STRING = (
    "(request-target): post /foo?param=value&pet=dog\nhost: example.com\ndate: Sun, 05 Jan 2014 21:31:40 GMT\n"
    "content-type: application/json\ndigest: SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\ncontent-length: 18"
)


def _pkcs1(key: rsa.RSAPrivateKey, text: str) -> str:
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def test_cavage_default_test_signature_reproduced_exactly():
    """C.1 (date only): our RSA-SHA256 over the draft's signing string equals the published value."""
    key = _load_private("cavage_test_key.pem")
    assert _pkcs1(key, f"date: {CAVAGE_DATE}") == C1_SIGNATURE
    signed = SignedRequest(
        "Test", "cavage", f"date: {CAVAGE_DATE}".encode(), base64.b64decode(C1_SIGNATURE), "rsa-sha256", ("date",)
    )
    verify_signature(signed, _load_public("cavage_test_key.pub.pem"))


def test_cavage_basic_test_parses_and_verifies_published_signature():
    """C.2: the published header (keyId made a URL, which is not signed) passes parse and verify."""
    headers = dict(CAVAGE_HEADERS)
    headers["Authorization"] = (
        f'Signature keyId="https://example.com/keys/Test",algorithm="rsa-sha256",'
        f'headers="(request-target) host date", signature="{C2_SIGNATURE}"'
    )
    signed = parse_signature(
        "POST", "/foo?param=value&pet=dog", headers, None, expected_host="example.com", now=CAVAGE_NOW
    )
    assert signed.signing_string == (
        b"(request-target): post /foo?param=value&pet=dog\nhost: example.com\ndate: Sun, 05 Jan 2014 21:31:40 GMT"
    )
    assert _pkcs1(_load_private("cavage_test_key.pem"), signed.signing_string.decode()) == C2_SIGNATURE
    verify_signature(signed, _load_public("cavage_test_key.pub.pem"))


def test_cavage_all_headers_test_parses_and_verifies_published_signature():
    """C.3 with its body: digest checked against the body, published signature reproduced and verified.
    (The draft lists (created) (expires) in headers=, but its signature value is over the six
    lines shown in its signing string, as earlier drafts had it.)"""
    headers = dict(CAVAGE_HEADERS)
    headers["Signature"] = (
        'keyId="https://example.com/keys/Test",algorithm="rsa-sha256",'
        f'headers="(request-target) host date content-type digest content-length",signature="{C3_SIGNATURE}"'
    )
    signed = parse_signature(
        "POST", "/foo?param=value&pet=dog", headers, CAVAGE_BODY, expected_host="example.com", now=CAVAGE_NOW
    )
    assert signed.signing_string == C3_STRING.encode()
    assert _pkcs1(_load_private("cavage_test_key.pem"), C3_STRING) == C3_SIGNATURE
    verify_signature(signed, _load_public("cavage_test_key.pub.pem"))
    assert digest_header(CAVAGE_BODY) == CAVAGE_HEADERS["Digest"]


def test_cavage_default_test_refused_by_policy_without_request_target():
    """C.1's date-only signature is refused before any key fetch: it binds no request target."""
    headers = dict(
        CAVAGE_HEADERS, Signature=f'keyId="https://example.com/k",algorithm="rsa-sha256",signature="{C1_SIGNATURE}"'
    )
    with pytest.raises(SignatureError, match=r"\(request-target\)"):
        parse_signature("POST", "/foo", headers, None, expected_host="example.com", now=CAVAGE_NOW)


# --- RFC 9421 -------------------------------------------------------------------------------

RFC_DIGEST = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
PROXY_SIG = (
    "S6ZzPXSdAMOPjN/6KXfXWNO/f7V6cHm7BXYUh3YD/fRad4BCaRZxP+JH+8XY1I6+8Cy+CM5g92iHgxtRPz+MjniOaYmdkDcnL9cCpXJleXs"
    "OckpURl49GwiyUpZ10KHgOEe11sx3G2gxI8S0jnxQB+Pu68U9vVcasqOWAEObtNKKZd8tSFu7LB5YAv0RAGhB8tmpv7sFnIm9y+7X5kXQf"
    "i8NMaZaA8i2ZHwpBdg7a6CMfwnnrtflzvZdXAsD3LH2TwevU+/PBPv0B6NMNk93wUs/vfJvye+YuI87HU38lZHowtznbLVdp770I6VHR6Wf"
    "gS9ddzirrswsE1w5o0LV/g=="
)
PROXY_INPUT = (
    'proxy_sig=("@method" "@authority" "@path" "content-digest" "content-type" "content-length" "forwarded")'
    ';created=1618884480;keyid="test-key-rsa";alg="rsa-v1_5-sha256";expires=1618884540'
)
PROXY_HEADERS = {
    "host": "origin.host.internal.example",
    "date": "Tue, 20 Apr 2021 02:07:56 GMT",
    "content-type": "application/json",
    "content-length": "18",
    "content-digest": RFC_DIGEST,
    "forwarded": "for=192.0.2.123;host=example.com;proto=https",
    "signature-input": PROXY_INPUT,
    "signature": f"proxy_sig=:{PROXY_SIG}:",
}


def test_rfc9421_rsa_v1_5_sha256_example_reproduced_exactly():
    """RFC 9421 §4.3 proxy signature (test-key-rsa, rsa-v1_5-sha256): same base, same deterministic
    signature as published, and the published value verifies."""
    sig = extract("POST", "/foo", dict(PROXY_HEADERS), authority="origin.host.internal.example")
    assert sig.bases[0].decode().endswith('"@signature-params": ' + PROXY_INPUT.split("=", 1)[1])
    assert sig.algorithm == "rsa-v1_5-sha256" and sig.created == 1618884480 and sig.expires == 1618884540
    assert _pkcs1(_load_private("rfc9421_test_key_rsa.pem"), sig.bases[0].decode()) == PROXY_SIG
    signed = SignedRequest(sig.key_id, "rfc9421", sig.bases[0], sig.signature, sig.algorithm, sig.covered)
    verify_signature(signed, _load_public("rfc9421_test_key_rsa.pub.pem"))


def test_rfc9421_example_key_id_refused_by_policy():
    """The §4.3 example's keyid is not an http(s) URL, so the inbox policy refuses it."""
    with pytest.raises(SignatureError, match="http"):
        parse_signature(
            "POST",
            "/foo",
            PROXY_HEADERS,
            b'{"hello": "world"}',
            expected_host="origin.host.internal.example",
            now=datetime.fromtimestamp(1618884481, UTC),
        )


RFC_REQUEST = {
    "host": "example.com",
    "date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "content-type": "application/json",
    "content-digest": RFC_DIGEST,
    "content-length": "18",
}
B21_SIG = (
    "d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7C"
    "hG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZs"
    "fxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8"
    "C8ssinQ98Xw9Q=="
)
B22_SIG = (
    "LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7GrcQEdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMkSowOB4+ECx"
    "CmT8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyFYXEu4TRJQzRw1rLEuEfY17SARYhpTlaqwZVtR8NV7+4UKkjqpcAoFqWFQh62s7Cl+H"
    "2fjBSpqfZUJcsIk4N6wiKYd4je2U/lankenQ99PZfB4jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoKUqiYY8Bh0aaUEb0rQl3/Xa"
    "Ve4bXTugEjHSw=="
)
B23_SIG = (
    "bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K"
    "0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1x"
    "My7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTI"
    "ztsDZKEgM4cUA=="
)


def _pss_verify(base: bytes, signature: str, algorithm: str = "rsa-pss-sha512") -> None:
    signed = SignedRequest("test-key-rsa-pss", "rfc9421", base, base64.b64decode(signature), algorithm, ())
    verify_signature(signed, _load_public("rfc9421_test_key_rsa_pss.pub.pem"))


def test_rfc9421_b21_minimal_pss_signature_verifies():
    """B.2.1 (no covered components, rsa-pss-sha512 given by the key): the published value verifies."""
    headers = dict(RFC_REQUEST)
    headers["signature-input"] = 'sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"'
    headers["signature"] = f"sig-b21=:{B21_SIG}:"
    sig = extract("POST", "/foo?param=Value&Pet=dog", headers, authority="example.com")
    assert (
        sig.bases[0]
        == b'"@signature-params": ();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"'
    )
    _pss_verify(sig.bases[0], B21_SIG)
    _pss_verify(sig.bases[0], B21_SIG, algorithm="")  # no alg parameter: derived from the key


def test_rfc9421_b22_selective_pss_signature_verifies():
    """B.2.2: the published base (with @query-param, built by hand) verifies with PSS-SHA512."""
    base = (
        '"@authority": example.com\n'
        f'"content-digest": {RFC_DIGEST}\n'
        '"@query-param";name="Pet": dog\n'
        '"@signature-params": ("@authority" "content-digest" "@query-param";name="Pet")'
        ';created=1618884473;keyid="test-key-rsa-pss";tag="header-example"'
    )
    _pss_verify(base.encode(), B22_SIG)


def test_rfc9421_b23_full_coverage_pss_signature_verifies():
    """B.2.3: our base for eight components matches the signer's; the published value verifies."""
    headers = dict(RFC_REQUEST)
    headers["signature-input"] = (
        'sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length")'
        ';created=1618884473;keyid="test-key-rsa-pss"'
    )
    headers["signature"] = f"sig-b23=:{B23_SIG}:"
    sig = extract("POST", "/foo?param=Value&Pet=dog", headers, authority="example.com")
    _pss_verify(sig.bases[0], B23_SIG)
    with pytest.raises(SignatureError):
        _pss_verify(sig.bases[0].replace(b"Pet=dog", b"Pet=cat"), B23_SIG)


def test_rfc9421_component_parameters_refused():
    """Components with parameters (e.g. @query-param;name) are refused, not silently mis-built."""
    headers = dict(
        RFC_REQUEST,
        **{"signature-input": 'sig1=("@query-param";name="Pet");created=1;keyid="k"', "signature": "sig1=:AAAA:"},
    )
    with pytest.raises(BaseError, match="parameters"):
        extract("POST", "/foo?Pet=dog", headers, authority="example.com")


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_round_trip_post_verifies(key, scheme):
    """What sign_request produces for a POST passes parse_signature and verify_signature."""
    headers = _signed(key, scheme)
    assert headers["Host"] == "receiver.example" and headers["Date"].endswith(" GMT")
    assert ("Digest" if scheme == "cavage" else "Content-Digest") in headers
    signed = _parse(headers)
    assert signed.key_id == KEY_ID and signed.scheme == scheme
    verify_signature(signed, key.public_key())


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_round_trip_get_verifies(key, scheme):
    """A signed GET (no body) passes, covering accept for cavage."""
    headers = _signed(
        key,
        scheme,
        body=None,
        method="GET",
        url="https://receiver.example/actors/7?page=2",
        headers={"Accept": "application/activity+json"},
    )
    signed = _parse(headers, body=None, method="GET", path="/actors/7?page=2")
    verify_signature(signed, key.public_key())
    if scheme == "cavage":
        assert signed.covered == ("(request-target)", "host", "date", "accept")


def test_cavage_header_shape_is_what_mastodon_expects(key):
    """The cavage header lists the five covered headers in the documented order."""
    value = _signed(key)["Signature"]
    assert value.startswith(
        f'keyId="{KEY_ID}",algorithm="rsa-sha256",headers="(request-target) host date digest content-type",signature="'
    )


def test_rfc9421_header_shape(key):
    """The RFC 9421 input is labelled sig1 with created, keyid and alg."""
    headers = _signed(key, "rfc9421", now=datetime(2024, 1, 1, tzinfo=UTC))
    assert headers["Signature-Input"] == (
        f'sig1=("@method" "@target-uri" "content-digest" "content-type");created=1704067200;keyid="{KEY_ID}";alg="rsa-v1_5-sha256"'
    )
    assert headers["Content-Digest"] == content_digest_header(BODY)
    assert headers["Date"] == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_headers_are_case_insensitive_and_authorization_form_accepted(key):
    """Lower/upper-case header names and the Authorization: Signature form both parse."""
    headers = {k.upper(): v for k, v in _signed(key).items()}
    headers["AUTHORIZATION"] = "Signature " + headers.pop("SIGNATURE")
    verify_signature(_parse(headers), key.public_key())


def test_hs2019_label_verifies_rsa_sha256_signature(key):
    """Mastodon-style algorithm="hs2019" with an RSASSA-PKCS1-v1_5 signature verifies."""
    headers = _signed(key)
    headers["Signature"] = headers["Signature"].replace('algorithm="rsa-sha256"', 'algorithm="hs2019"')
    verify_signature(_parse(headers), key.public_key())


def test_expected_host_with_port_and_default_port(key):
    """A node on host:port verifies; an explicit :443 in Host equals the bare host."""
    headers = _signed(key, url="http://localhost:8001/inbox")
    verify_signature(_parse(headers, host="localhost:8001"), key.public_key())
    rfc = _signed(key, "rfc9421", url="http://localhost:8001/inbox")
    verify_signature(_parse(rfc, host="localhost:8001"), key.public_key())
    https = _signed(key, url="https://receiver.example:443/inbox")
    assert https["Host"] == "receiver.example"


def test_sha512_digest_accepted(key):
    """A Digest with SHA-512 (any case) is checked and accepted."""
    headers = _signed(key)
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    assert "sha-512" not in headers["Digest"]
    headers["Digest"] = f"sha-512={sha512}"
    signed = _parse(headers)  # digest matches; the signature itself now fails (digest was signed)
    with pytest.raises(SignatureError):
        verify_signature(signed, key.public_key())


# --- refusals -------------------------------------------------------------------------------


def test_missing_digest_refused(key):
    """A body without a Digest header is refused."""
    headers = _signed(key)
    del headers["Digest"]
    with pytest.raises(SignatureError, match=r"(?i)digest"):
        _parse(headers)


def test_digest_mismatch_after_body_change_refused(key):
    """Changing the body after signing fails the digest check (both schemes)."""
    for scheme in ("cavage", "rfc9421"):
        with pytest.raises(SignatureError, match="does not match the body"):
            _parse(_signed(key, scheme), body=BODY + b" ")


def test_unknown_only_digest_algorithm_refused(key):
    """A Digest naming only unsupported algorithms is refused."""
    headers = _signed(key)
    headers["Digest"] = "MD5=" + base64.b64encode(hashlib.md5(BODY).digest()).decode()  # noqa: S324
    with pytest.raises(SignatureError, match="no supported algorithm"):
        _parse(headers)


def test_body_not_covered_by_signature_refused(key):
    """A signature whose covered headers omit digest is refused for a request with a body."""
    headers = _signed(key)
    headers["Signature"] = headers["Signature"].replace(" digest", "")
    with pytest.raises(SignatureError, match="body digest"):
        _parse(headers)


@pytest.mark.parametrize("offset", [timedelta(hours=-2), timedelta(hours=2)])
@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_stale_or_future_date_refused(key, scheme, offset):
    """Date/created outside the skew window, past or future, is refused."""
    signed_at = datetime.now(UTC) + offset
    with pytest.raises(SignatureError, match=r"(old|future)"):
        _parse(_signed(key, scheme, now=signed_at))


def test_wrong_host_refused(key):
    """A request signed for another host is refused (both schemes)."""
    with pytest.raises(SignatureError, match="host"):
        _parse(_signed(key), host="other.example")
    with pytest.raises(SignatureError, match="host"):
        _parse(_signed(key, "rfc9421"), host="other.example")


def test_rfc9421_signed_for_other_host_without_host_header_fails_verify(key):
    """Without a Host header, an RFC 9421 signature for another host cannot verify here."""
    headers = _signed(key, "rfc9421")
    del headers["Host"]
    signed = _parse(headers, host="other.example")
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(signed, key.public_key())


def test_missing_request_target_refused(key):
    """A cavage signature not covering (request-target) is refused."""
    headers = _signed(key)
    headers["Signature"] = headers["Signature"].replace("(request-target) ", "")
    with pytest.raises(SignatureError, match=r"\(request-target\)"):
        _parse(headers)


def test_rfc9421_missing_target_refused(key):
    """An RFC 9421 signature without @method/@target-uri is refused."""
    headers = _signed(key, "rfc9421")
    headers["Signature-Input"] = headers["Signature-Input"].replace('"@method" ', "")
    with pytest.raises(SignatureError, match="@method"):
        _parse(headers)


def test_acct_key_id_refused(key):
    """An acct: keyId is refused."""
    headers = _signed(key)
    headers["Signature"] = headers["Signature"].replace(KEY_ID, "acct:alice@sender.example")
    with pytest.raises(SignatureError, match="http"):
        _parse(headers)


@pytest.mark.parametrize("algorithm", ["rsa-sha1", "hmac-sha256", "ecdsa-sha256", "ed25519"])
def test_unknown_algorithm_refused(key, algorithm):
    """Algorithms other than rsa-sha256/hs2019 (cavage) are refused."""
    headers = _signed(key)
    headers["Signature"] = headers["Signature"].replace("rsa-sha256", algorithm)
    with pytest.raises(SignatureError, match="unsupported"):
        _parse(headers)


def test_rfc9421_unknown_algorithm_refused(key):
    """RFC 9421 alg values we do not implement are refused."""
    headers = _signed(key, "rfc9421")
    headers["Signature-Input"] = headers["Signature-Input"].replace("rsa-v1_5-sha256", "ecdsa-p256-sha256")
    with pytest.raises(SignatureError, match="unsupported"):
        _parse(headers)


def test_expired_rfc9421_signature_refused(key):
    """An RFC 9421 signature past its expires parameter is refused."""
    headers = _signed(key, "rfc9421")
    headers["Signature-Input"] += ";expires=1000"
    with pytest.raises(SignatureError, match="expired"):
        _parse(headers)


def test_wrong_key_refused(key, other_key):
    """A valid signature checked against another actor's key fails."""
    for scheme in ("cavage", "rfc9421"):
        with pytest.raises(SignatureError, match="does not match"):
            verify_signature(_parse(_signed(key, scheme)), other_key.public_key())


def test_tampered_signed_header_fails_verification(key):
    """Changing a covered header value after signing fails verification."""
    headers = _signed(key)
    headers["Content-Type"] = "text/html"
    with pytest.raises(SignatureError):
        verify_signature(_parse(headers), key.public_key())


def test_unsigned_request_refused():
    """No signature header at all is refused."""
    with pytest.raises(SignatureError, match="not signed"):
        _parse({"Host": "receiver.example"})


MALFORMED = [
    'keyId="https://a.example/k,algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"',
    "keyId=https://a.example/k,signature=AAAA",
    'keyId="https://a.example/k",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="%%%%"',
    'keyId="https://a.example/k",keyId="https://b.example/k",signature="AAAA"',
    'keyId="https://a.example/k",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="'
    + "A" * 20000
    + '"',
    'keyId="https://ä.example/ключ",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"',
    'keyId="https://a.example/k",headers="(request-target) host date digest ünïcode",signature="AAAA"',
    "",
    "garbage",
    '=,=,"',
    'keyId="https://a.example/k",headers="(request-target) host date digest (created)",signature="AAAA"',
]


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_cavage_header_raises_signature_error_only(key, value):
    """Hostile Signature headers raise SignatureError with a reason, never another exception."""
    headers = _signed(key)
    headers["Signature"] = value
    with pytest.raises(SignatureError) as info:
        _parse(headers)
    assert info.value.reason


MALFORMED_RFC = [
    ('sig1=("@method" "@target-uri";created=1;keyid="https://a.example/k"', None),
    ('sig1=("@method" "@target-uri");created=1.5;keyid="https://a.example/k"', None),
    ('sig1=("@method" @target-uri);created=1;keyid="https://a.example/k"', None),
    ('sig1=("@method" "@target-uri");created=1;keyid="https://a.example/k"', "sig1=:not base64!:"),
    ('sig1=("@method" "@target-uri");created=1;keyid="https://a.example/k"', "sig2=:AAAA:"),
    ('sig1=("@méthode");created=1', None),
    ("sig1=(" + '"x" ' * 5000 + ")", None),
    ("", None),
]


@pytest.mark.parametrize(("signature_input", "signature"), MALFORMED_RFC)
def test_malformed_rfc9421_headers_raise_signature_error_only(key, signature_input, signature):
    """Hostile Signature-Input/Signature values raise SignatureError only."""
    headers = _signed(key, "rfc9421")
    headers["Signature-Input"] = signature_input
    if signature is not None:
        headers["Signature"] = signature
    with pytest.raises(SignatureError) as info:
        _parse(headers)
    assert info.value.reason


def test_non_latin1_header_values_raise_signature_error(key):
    """A covered header with characters outside Latin-1 is refused cleanly."""
    headers = _signed(key)
    headers["Content-Type"] = "application/activity+json; 名前"
    with pytest.raises(SignatureError, match="Latin-1"):
        _parse(headers)


def test_sign_request_refuses_non_http_url_and_bad_key_id(key):
    """Signing a mailto: URL or a key id with quotes is a programming error (ValueError)."""
    with pytest.raises(ValueError):
        sign_request("POST", "mailto:x@y.example", {}, b"", key_id=KEY_ID, private_key=key)
    with pytest.raises(ValueError):
        sign_request("POST", INBOX, {}, b"", key_id='https://a"b', private_key=key)
