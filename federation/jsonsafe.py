"""Strict JSON for inbound activities: valid UTF-8, an object at the top, no duplicate keys
(two parsers could otherwise disagree about which value counts), no NaN/Infinity, bounded
nesting. Built on the C ``json`` scanner; the checks add little to a normal payload."""

from __future__ import annotations

import json
from typing import Any

DEFAULT_MAX_DEPTH = 32


class JSONError(Exception):
    """The body is not an acceptable activity document; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JSONError(f"duplicate key {key[:60]!r}")
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise JSONError(f"{name} is not valid JSON")


def _check_depth(root: dict[str, Any], max_depth: int) -> None:
    """Iterative walk (no recursion): every container at most ``max_depth`` levels deep."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            raise JSONError(f"nesting deeper than {max_depth} levels")
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                push((child, depth + 1))


def loads_activity(raw: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> dict[str, Any]:
    """Parse an inbound body into a dict, or raise JSONError (never anything else) for invalid
    UTF-8 or JSON, a non-object top level, nesting deeper than ``max_depth``, duplicate keys,
    or the NaN/Infinity constants."""
    try:
        text = raw.decode("utf-8")
    except (UnicodeDecodeError, AttributeError):
        raise JSONError("body is not valid UTF-8") from None
    try:
        doc = json.loads(text, object_pairs_hook=_pairs_hook, parse_constant=_reject_constant)
    except JSONError:
        raise
    except RecursionError:
        raise JSONError(f"nesting deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise JSONError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise JSONError(f"invalid JSON: {str(exc)[:100]}") from None
    if not isinstance(doc, dict):
        raise JSONError(f"top level must be an object, not {type(doc).__name__}")
    _check_depth(doc, max_depth)
    return doc
