"""Strict JSON parsing of inbound activities."""

from __future__ import annotations

import json

import pytest

from federation.jsonsafe import JSONError, loads_activity


def test_loads_real_mastodon_activity(fixture_path):
    """A real Mastodon Create{Note} parses to the same dict as json.loads."""
    raw = fixture_path("mastodon/create_note.json").read_bytes()
    assert loads_activity(raw) == json.loads(raw)


def test_loads_non_ascii_text_unchanged():
    """Tibetan, Chinese and Dai text survive parsing exactly."""
    text = "བོད་ཡིག 中文 ᦺᦑᦟᦹᧉ"
    assert loads_activity(json.dumps({"content": text}, ensure_ascii=False).encode())["content"] == text


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "UTF-8"),
        (b"{", "invalid JSON"),
        (b"", "invalid JSON"),
        (b"[1, 2]", "top level"),
        (b'"text"', "top level"),
        (b"null", "top level"),
        (b'{"id": 1, "id": 2}', "duplicate key"),
        (b'{"a": {"b": 1, "b": 1}}', "duplicate key"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": -Infinity}', "Infinity"),
        (b'{"a": 1} trailing', "invalid JSON"),
        (b'{"n": ' + b"9" * 5000 + b"}", "invalid JSON"),
    ],
)
def test_loads_rejects_bad_documents(raw, reason):
    """Invalid UTF-8/JSON, non-objects, duplicate keys and non-finite numbers raise JSONError."""
    with pytest.raises(JSONError) as info:
        loads_activity(raw)
    assert reason in info.value.reason


def test_loads_enforces_max_depth():
    """Nesting beyond max_depth is refused; exactly max_depth is accepted."""

    def nested(depth: int) -> bytes:
        return ('{"a":' * depth + "1" + "}" * depth).encode()

    assert loads_activity(nested(32))
    with pytest.raises(JSONError, match="deeper"):
        loads_activity(nested(33))
    with pytest.raises(JSONError, match="deeper"):
        loads_activity(b'{"a":' + b"[" * 40 + b"]" * 40 + b"}")
    assert loads_activity(nested(3), max_depth=3)


def test_loads_survives_recursion_bomb():
    """A 100,000-level nesting bomb raises JSONError, not RecursionError or a crash."""
    bomb = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(JSONError):
        loads_activity(bomb)


def test_json_error_message_is_reason():
    """str(JSONError) is its reason, so callers can show it."""
    with pytest.raises(JSONError) as info:
        loads_activity(b"[]")
    assert str(info.value) == info.value.reason
