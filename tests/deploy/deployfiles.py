"""Shared paths and helpers of the deployment-file tests (a module, not a test file)."""

from __future__ import annotations

import ast
import configparser
import shutil
from pathlib import Path

from tests.certs import write_self_signed

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "redcloud.conf"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
ENV_EXAMPLE = DEPLOY / "redcloud.env.example"
GUNICORN_CONF = DEPLOY / "gunicorn.conf.py"
MANAGE_WRAPPER = DEPLOY / "bin" / "redcloud-manage"
INSTALL_DIR = "/opt/redcloud"
PLACEHOLDER_CERT = "/etc/letsencrypt/live/county-a.example.org/fullchain.pem"
PLACEHOLDER_KEY = "/etc/letsencrypt/live/county-a.example.org/privkey.pem"


def parse_env_text(text: str) -> dict[str, str]:
    """Read ``KEY=value`` lines the way systemd's EnvironmentFile= does for our simple format."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {line!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def config_variables() -> set[str]:
    """Names of every environment variable ``node/config.py`` reads, found in its source."""
    tree = ast.parse((ROOT / "node" / "config.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            is_env_get = (
                isinstance(func, ast.Attribute)
                and func.attr == "get"
                and isinstance(func.value, ast.Name)
                and func.value.id == "env"
            )
            args = node.args if is_env_get else node.args[1:]
            takes_env = is_env_get or (node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "env")
            if takes_env and args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                names.add(args[0].value)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "env":
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                names.add(node.slice.value)
    return names


def production_env(tmp_path: Path) -> dict[str, str]:
    """The shipped env example with its placeholder secret replaced and state kept in ``tmp_path``."""
    env = parse_env_text(ENV_EXAMPLE.read_text())
    env["SECRET_KEY"] = "k" * 50
    env["NODE_VAR_DIR"] = str(tmp_path / "var")
    env["MEDIA_ROOT"] = str(tmp_path / "var" / "media")
    return env


def read_unit(path: Path) -> configparser.ConfigParser:
    """Parse a systemd unit (repeatable keys allowed, ``%`` specifiers left alone, case kept)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def unit_environment(path: Path) -> dict[str, str]:
    """The ``Environment=`` defaults of a unit's [Service] section, every line of them (the
    parser of :func:`read_unit` keeps only the last value of a repeated key). Our units use no
    quoting, so a value ends at whitespace."""
    values: dict[str, str] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith("Environment="):
            values.update(item.split("=", 1) for item in line.removeprefix("Environment=").split())
    return values


def nginx_binary() -> str | None:
    """Path of the nginx executable, or None when nginx is not installed."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a throw-away certificate and key for ``county-a.example.org`` into ``directory``."""
    return write_self_signed(directory, "county-a.example.org", cert_name="fullchain.pem", key_name="privkey.pem")
