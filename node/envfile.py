"""``KEY=VALUE`` env files: the format ``node init`` and ``devnet`` write and settings read.

One assignment per line; blank lines and ``#`` comments are ignored; an optional ``export``
prefix and one pair of surrounding quotes are stripped. No interpolation, no escapes: the
file is data, never shell code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EnvFileError(ValueError):
    """A line of an env file is not ``KEY=VALUE``; the message names the file and line."""


def parse_env_file(path: Path) -> dict[str, str]:
    """Return the assignments of ``path`` in file order; raise :class:`EnvFileError` on a bad line."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.match(key):
            raise EnvFileError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def format_env_file(values: Mapping[str, str], header: str = "") -> str:
    """Render ``values`` as env-file text (no quoting: values must not contain newlines)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for key, value in values.items():
        if not _KEY_RE.match(key) or "\n" in value or "\r" in value:
            raise EnvFileError(f"cannot write {key}={value!r} to an env file")
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def write_env_file(path: Path, values: Mapping[str, str], header: str = "") -> None:
    """Write ``values`` to ``path`` (created 0600, parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(format_env_file(values, header))


def environ_with_env_file(environ: Mapping[str, str], base_dir: Path) -> dict[str, str]:
    """The process environment merged over the node's env file (the real environment wins).

    The file is ``NODE_ENV_FILE`` when set (it must exist), else ``<var>/node.env`` when it
    exists, where ``<var>`` is ``NODE_VAR_DIR`` or ``<base_dir>/var``.
    """
    explicit = environ.get("NODE_ENV_FILE", "").strip()
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise EnvFileError(f"NODE_ENV_FILE={explicit!r} does not exist")
    else:
        path = Path(environ.get("NODE_VAR_DIR") or base_dir / "var") / "node.env"
        if not path.is_file():
            return dict(environ)
    return {**parse_env_file(path), **environ}
