"""Shared benchmark inputs: a realistic 2.3 KB Create{Note} body, the B8 fixture HTML, and
RSA-2048 keys parsed once (as ``federation.keys`` caches them in the running node)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
BODY_BYTES = 2300
# B8 "the 971-byte fixture HTML": no fixture content is 971 bytes. Of the real Mastodon notes
# in ../shared/fixtures, the one whose content is closest to 971 bytes is this one (476 bytes).
B8_FIXTURE = "mastodon/note_attachment_blurhash.json"


def fixture(name: str) -> dict:
    """A JSON fixture from ../shared/fixtures."""
    path = FIXTURES / name
    if not path.exists():
        raise FileNotFoundError(f"benchmark fixture {path} is missing (shared/ must sit beside the checkout)")
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def create_note_body() -> bytes:
    """The real Mastodon Create{Note} fixture, compact, padded in its content to exactly 2.3 KB."""
    doc = fixture("mastodon/create_note.json")
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    if len(raw) < BODY_BYTES:
        doc["object"]["content"] += "<p>" + "x" * (BODY_BYTES - len(raw) - 7) + "</p>"
        raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return raw[:BODY_BYTES] if len(raw) > BODY_BYTES else raw


@cache
def b8_html() -> str:
    """Content HTML of the B8 fixture note."""
    return str(fixture(B8_FIXTURE)["content"])


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    """One RSA-2048 key per process (the node parses each PEM once, see federation.keys)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
