"""The part of RFC 8941/9651 Structured Field Values that RFC 9421 signatures need:
dictionaries whose members are inner lists or bare items, with parameters, and the exact
re-serialisation of a ``Signature-Input`` member for the ``@signature-params`` line.

Strict: anything outside the grammar raises ``SFError`` (a ValueError)."""

from __future__ import annotations

import base64
import binascii
import re

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_STRING = re.compile(r'"((?:[ !#-\[\]-~]|\\["\\])*)"')
_UNESCAPE = re.compile(r"\\(.)")
MAX_LENGTH = 8192


class SFError(ValueError):
    """Malformed structured field."""


class Token(str):
    """An sf-token (serialised without quotes), as opposed to an sf-string."""

    __slots__ = ()


BareItem = str | int | bool | bytes
Params = list[tuple[str, BareItem]]
Item = tuple[BareItem, Params]
Member = tuple[list[Item] | BareItem, Params]


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise SFError("structured field too long")
        if not text.isascii():
            raise SFError("structured field contains non-ASCII characters")
        self.s = text
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_sp(self) -> None:
        s, i, n = self.s, self.i, len(self.s)
        while i < n and s[i] == " ":
            i += 1
        self.i = i

    def skip_ows(self) -> None:
        s, i, n = self.s, self.i, len(self.s)
        while i < n and s[i] in " \t":
            i += 1
        self.i = i

    def key(self) -> str:
        m = _KEY.match(self.s, self.i)
        if not m:
            raise SFError(f"expected a key at position {self.i}")
        self.i = m.end()
        return m.group(0)

    def bare_item(self) -> BareItem:
        c = self.peek()
        if c == '"':
            return self.string()
        if c == ":":
            end = self.s.find(":", self.i + 1)
            if end < 0:
                raise SFError("unterminated byte sequence")
            raw = self.s[self.i + 1 : end]
            self.i = end + 1
            try:
                return base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise SFError("invalid base64 in byte sequence") from None
        if c == "?":
            flag = self.s[self.i + 1 : self.i + 2]
            if flag not in ("0", "1"):
                raise SFError("invalid boolean")
            self.i += 2
            return flag == "1"
        if c == "-" or c.isdigit():
            m = _INTEGER.match(self.s, self.i)
            if not m or self.s[m.end() : m.end() + 1] in (".",) or self.s[m.end() : m.end() + 1].isdigit():
                raise SFError("unsupported or oversized number")
            self.i = m.end()
            return int(m.group(0))
        m = _TOKEN.match(self.s, self.i)
        if not m:
            raise SFError(f"unexpected character at position {self.i}")
        self.i = m.end()
        return Token(m.group(0))

    def string(self) -> str:
        m = _STRING.match(self.s, self.i)
        if not m:
            raise SFError(f"invalid or unterminated string at position {self.i}")
        self.i = m.end()
        value = m.group(1)
        return _UNESCAPE.sub(r"\1", value) if "\\" in value else value

    def params(self) -> Params:
        params: Params = []
        while self.peek() == ";":
            self.i += 1
            self.skip_sp()
            name = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.i += 1
                value = self.bare_item()
            params = [(k, v) for k, v in params if k != name]
            params.append((name, value))
        return params

    def inner_list(self) -> list[Item]:
        self.i += 1  # "("
        items: list[Item] = []
        while self.i < len(self.s):
            self.skip_sp()
            if self.peek() == ")":
                self.i += 1
                return items
            item = self.bare_item()
            items.append((item, self.params()))
            if self.peek() not in (" ", ")"):
                raise SFError("inner list items must be separated by spaces")
        raise SFError("unterminated inner list")

    def dictionary(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        self.skip_sp()
        while self.i < len(self.s):
            name = self.key()
            if name in members:
                raise SFError(f"duplicate dictionary key {name!r}")
            if self.peek() == "=":
                self.i += 1
                value: list[Item] | BareItem = self.inner_list() if self.peek() == "(" else self.bare_item()
            else:
                value = True
            members[name] = (value, self.params())
            self.skip_ows()
            if self.i >= len(self.s):
                break
            if self.peek() != ",":
                raise SFError(f"expected ',' at position {self.i}")
            self.i += 1
            self.skip_ows()
            if self.i >= len(self.s):
                raise SFError("trailing comma")
        return members


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse an sf-dictionary; raises SFError on anything malformed."""
    return _Parser(text.strip(" \t")).dictionary()


def serialize_bare(value: BareItem) -> str:
    """Canonical serialisation of one bare item."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    if not (value.isascii() and value.isprintable()):
        raise SFError("string with characters outside printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialize_params(params: Params) -> str:
    """Canonical ``;key=value`` serialisation (``;key`` for true booleans)."""
    return "".join(f";{k}" if v is True else f";{k}={serialize_bare(v)}" for k, v in params)


def serialize_inner_list(items: list[Item], params: Params) -> str:
    """Canonical serialisation of an inner list with its parameters."""
    inner = " ".join(serialize_bare(v) + serialize_params(p) for v, p in items)
    return f"({inner}){serialize_params(params)}"
