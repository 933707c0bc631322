"""Typed, validated node configuration read once from the environment.

``load(env, base_dir)`` is a pure function: it never touches ``os.environ`` itself, so tests
can feed it any mapping. ``node/settings.py`` is its only production caller. Every problem is
reported as a :class:`ConfigError` whose message names the variable and what to write instead.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROLES = ("county", "prefecture", "province")

# A host name (IDNA A-labels or plain ASCII) or an IPv4 address, optionally with a port.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^(?:{_LABEL}\.)*{_LABEL}(?::(?P<port>\d{{1,5}}))?$")
_REGION_RE = re.compile(r"^\d{6}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """The environment does not describe a node that can start; the message says why."""


@dataclass(frozen=True)
class LearningLimits:
    """Limits of the network classroom (``learning``): upload sizes, text extraction, exams, and
    which nodes may read answer keys. Sizes are in bytes here, in MB in the environment."""

    max_video_bytes: int = 500 * 1024 * 1024
    max_audio_bytes: int = 100 * 1024 * 1024
    max_pdf_bytes: int = 50 * 1024 * 1024
    max_epub_bytes: int = 50 * 1024 * 1024
    max_epub_expanded_bytes: int = 200 * 1024 * 1024
    library_max_bytes: int = 50 * 1024 * 1024
    library_max_text_chars: int = 1_000_000
    library_extract_pages: int = 2000
    library_extract_seconds: int = 60
    library_extract_memory_bytes: int = 1024 * 1024 * 1024
    exam_grace_seconds: int = 5
    answer_key_domains: tuple[str, ...] | None = None

    def as_settings(self) -> dict[str, object]:
        """The Django settings ``learning`` reads (``LEARNING_*``), for ``node/settings.py``."""
        domains = None if self.answer_key_domains is None else list(self.answer_key_domains)
        return {
            "LEARNING_MAX_VIDEO_BYTES": self.max_video_bytes,
            "LEARNING_MAX_AUDIO_BYTES": self.max_audio_bytes,
            "LEARNING_MAX_PDF_BYTES": self.max_pdf_bytes,
            "LEARNING_MAX_EPUB_BYTES": self.max_epub_bytes,
            "LEARNING_MAX_EPUB_EXPANDED_BYTES": self.max_epub_expanded_bytes,
            "LEARNING_LIBRARY_MAX_BYTES": self.library_max_bytes,
            "LEARNING_LIBRARY_MAX_TEXT_CHARS": self.library_max_text_chars,
            "LEARNING_LIBRARY_EXTRACT_PAGES": self.library_extract_pages,
            "LEARNING_LIBRARY_EXTRACT_SECONDS": self.library_extract_seconds,
            "LEARNING_LIBRARY_EXTRACT_MEMORY_BYTES": self.library_extract_memory_bytes,
            "LEARNING_EXAM_GRACE_SECONDS": self.exam_grace_seconds,
            "LEARNING_ANSWER_KEY_DOMAINS": domains,
        }


@dataclass(frozen=True)
class Config:
    """Everything a node reads from its environment, already validated."""

    base_dir: Path
    var_dir: Path
    domain: str
    name: str
    role: str
    region_code: str
    parent: str
    database_url: str
    redis_url: str
    secret_key: str
    media_root: Path
    debug: bool
    allow_private_addresses: bool
    scheme: str
    embedded_broker: bool
    registration: str
    time_scale: float = 1.0
    delivery_timeout: float = 10.0
    trusted_proxies: tuple[str, ...] = field(default_factory=tuple)
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    production: bool = False
    hub_allow: tuple[str, ...] = field(default_factory=tuple)
    hub_rebroadcast: bool = False
    learning: LearningLimits = field(default_factory=LearningLimits)

    @property
    def base_url(self) -> str:
        """The public origin of this node, e.g. ``https://county-a.example`` (no slash)."""
        return f"{self.scheme}://{self.domain}"

    @property
    def host(self) -> str:
        """The domain without its port."""
        return self.domain.rsplit(":", 1)[0] if ":" in self.domain else self.domain


def parse_bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    """Read a boolean variable; anything but the usual spellings is an error."""
    raw = env.get(key)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{key}={raw!r} is not a boolean; write 1/0, true/false, yes/no or on/off.")


def normalise_domain(raw: str, key: str = "NODE_DOMAIN") -> str:
    """Lower-case and IDNA-encode a ``host[:port]`` value, refusing anything else."""
    value = raw.strip().lower().rstrip(".") if raw.strip().endswith(".") else raw.strip().lower()
    if not value or "/" in value or "@" in value or " " in value:
        raise ConfigError(
            f"{key}={raw!r} is not a domain; write a host name with an optional port, "
            "like county-a.example.org or 127.0.0.1:8101 (no scheme, no path)."
        )
    host, _, port = value.partition(":")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ConfigError(f"{key}={raw!r}: the host name is not valid IDNA ({exc}).") from exc
    candidate = f"{host}:{port}" if port else host
    match = _DOMAIN_RE.match(candidate)
    if not match:
        raise ConfigError(
            f"{key}={raw!r} is not a domain; write a host name with an optional port, "
            "like county-a.example.org or 127.0.0.1:8101."
        )
    if port and not 0 < int(port) < 65536:
        raise ConfigError(f"{key}={raw!r}: port {port} is out of range 1-65535.")
    return candidate


def parse_int(env: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    """Read a whole number between ``low`` and ``high``; empty or unset gives ``default``."""
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a whole number.") from None
    if not low <= value <= high:
        raise ConfigError(f"{key}={value} is out of range; write a number from {low} to {high}.")
    return value


def _learning(env: Mapping[str, str]) -> LearningLimits:
    mb = 1024 * 1024
    raw_domains = env.get("LEARNING_ANSWER_KEY_DOMAINS", "").strip()
    domains = (
        tuple(normalise_domain(d, "LEARNING_ANSWER_KEY_DOMAINS") for d in raw_domains.split(",") if d.strip())
        if raw_domains
        else None
    )
    return LearningLimits(
        max_video_bytes=parse_int(env, "LEARNING_MAX_VIDEO_MB", 500, 1, 10_000) * mb,
        max_audio_bytes=parse_int(env, "LEARNING_MAX_AUDIO_MB", 100, 1, 10_000) * mb,
        max_pdf_bytes=parse_int(env, "LEARNING_MAX_PDF_MB", 50, 1, 2_000) * mb,
        max_epub_bytes=parse_int(env, "LEARNING_MAX_EPUB_MB", 50, 1, 2_000) * mb,
        max_epub_expanded_bytes=parse_int(env, "LEARNING_MAX_EPUB_EXPANDED_MB", 200, 1, 10_000) * mb,
        library_max_bytes=parse_int(env, "LEARNING_LIBRARY_MAX_MB", 50, 1, 2_000) * mb,
        library_max_text_chars=parse_int(env, "LEARNING_LIBRARY_MAX_TEXT_CHARS", 1_000_000, 1_000, 100_000_000),
        library_extract_pages=parse_int(env, "LEARNING_LIBRARY_EXTRACT_PAGES", 2000, 1, 100_000),
        library_extract_seconds=parse_int(env, "LEARNING_LIBRARY_EXTRACT_SECONDS", 60, 1, 3600),
        library_extract_memory_bytes=parse_int(env, "LEARNING_LIBRARY_EXTRACT_MEMORY_MB", 1024, 64, 65_536) * mb,
        exam_grace_seconds=parse_int(env, "LEARNING_EXAM_GRACE_SECONDS", 5, 0, 300),
        answer_key_domains=domains,
    )


def _secret_key(env: Mapping[str, str], var_dir: Path, production: bool) -> str:
    key = env.get("SECRET_KEY", "").strip()
    if key:
        if production and len(key) < 40:
            raise ConfigError("SECRET_KEY is shorter than 40 characters; generate a long random one.")
        return key
    if production:
        raise ConfigError("SECRET_KEY must be set in production (NODE_PRODUCTION=1).")
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def load(env: Mapping[str, str], base_dir: Path) -> Config:
    """Build and validate the node configuration from ``env``.

    With an empty environment this gives the embedded default: SQLite and a file-system broker
    under ``./var/``, a secret key generated once into ``./var/secret_key``, a county node on
    ``127.0.0.1:8000``.
    """
    var_dir = Path(env.get("NODE_VAR_DIR") or base_dir / "var").resolve()
    production = parse_bool(env, "NODE_PRODUCTION", False)
    debug = parse_bool(env, "DEBUG", not production)
    if production and debug:
        raise ConfigError("DEBUG must be off in production (NODE_PRODUCTION=1); unset DEBUG.")

    domain = normalise_domain(env.get("NODE_DOMAIN", "127.0.0.1:8000"))

    role = env.get("NODE_ROLE", "county").strip().lower()
    if role not in ROLES:
        raise ConfigError(f"NODE_ROLE={env.get('NODE_ROLE')!r} is not a role; use one of: {', '.join(ROLES)}.")

    region = env.get("NODE_REGION_CODE", "000000").strip()
    if not _REGION_RE.match(region):
        raise ConfigError(f"NODE_REGION_CODE={region!r} is not a 6-digit administrative division code (e.g. 530102).")

    parent = env.get("NODE_PARENT", "").strip().rstrip("/")
    if parent:
        parts = urlsplit(parent)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"NODE_PARENT={parent!r} is not an http(s) URL of the parent hub.")
        if production and parts.scheme != "https":
            raise ConfigError("NODE_PARENT must use https in production.")
    if role == "province" and parent:
        raise ConfigError("A province node has no parent; unset NODE_PARENT or change NODE_ROLE.")

    scheme = env.get("NODE_SCHEME", "https" if production else "http").strip().lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"NODE_SCHEME={scheme!r} must be http or https.")
    if production and scheme != "https":
        raise ConfigError("Production nodes must be served over https (NODE_SCHEME=https).")

    database_url = env.get("DATABASE_URL", "").strip() or f"sqlite:///{var_dir / 'db.sqlite3'}"
    if urlsplit(database_url).scheme not in ("sqlite", "postgres", "postgresql", "pgsql"):
        raise ConfigError(f"DATABASE_URL scheme must be sqlite:// or postgres://, got {database_url.split(':')[0]!r}.")
    redis_url = env.get("REDIS_URL", "").strip()
    if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss"):
        raise ConfigError("REDIS_URL must start with redis:// or rediss://.")

    allow_private = parse_bool(env, "FEDERATION_ALLOW_PRIVATE_ADDRESSES", False)
    if production and allow_private:
        raise ConfigError("FEDERATION_ALLOW_PRIVATE_ADDRESSES must be off in production.")

    raw_scale = env.get("FEDERATION_TIME_SCALE", "1").strip() or "1"
    try:
        time_scale = float(raw_scale)
    except ValueError:
        raise ConfigError(f"FEDERATION_TIME_SCALE={raw_scale!r} is not a number (1 = real time).")
    if not 0.001 <= time_scale <= 1:
        raise ConfigError("FEDERATION_TIME_SCALE must be between 0.001 and 1 (1 = real time).")
    if production and time_scale != 1:
        raise ConfigError("FEDERATION_TIME_SCALE is for test networks; production runs in real time (1).")

    raw_timeout = env.get("FEDERATION_DELIVERY_TIMEOUT", "10").strip() or "10"
    try:
        delivery_timeout = float(raw_timeout)
    except ValueError:
        raise ConfigError(f"FEDERATION_DELIVERY_TIMEOUT={raw_timeout!r} is not a number of seconds.")
    if not 1 <= delivery_timeout <= 120:
        raise ConfigError("FEDERATION_DELIVERY_TIMEOUT must be between 1 and 120 seconds.")

    registration = env.get("NODE_REGISTRATION", "closed").strip().lower()
    if registration not in ("closed", "invite", "approval"):
        raise ConfigError("NODE_REGISTRATION must be closed, invite or approval.")

    proxies = tuple(p.strip() for p in env.get("NODE_TRUSTED_PROXIES", "").split(",") if p.strip())
    extra_hosts = tuple(h.strip() for h in env.get("NODE_EXTRA_ALLOWED_HOSTS", "").split(",") if h.strip())
    host = domain.rsplit(":", 1)[0] if ":" in domain else domain
    allowed = (host, *extra_hosts)
    if not production:
        allowed = (*allowed, "127.0.0.1", "localhost", "[::1]")

    hub_allow = tuple(
        normalise_domain(h, "NODE_HUB_ALLOW") for h in env.get("NODE_HUB_ALLOW", "").split(",") if h.strip()
    )
    hub_rebroadcast = parse_bool(env, "NODE_HUB_REBROADCAST", False)

    return Config(
        base_dir=base_dir,
        var_dir=var_dir,
        domain=domain,
        name=env.get("NODE_NAME", "").strip() or f"Redcloud {domain}",
        role=role,
        region_code=region,
        parent=parent,
        database_url=database_url,
        redis_url=redis_url,
        secret_key=_secret_key(env, var_dir, production),
        media_root=Path(env.get("MEDIA_ROOT") or var_dir / "media").resolve(),
        debug=debug,
        allow_private_addresses=allow_private,
        scheme=scheme,
        embedded_broker=not redis_url,
        registration=registration,
        time_scale=time_scale,
        delivery_timeout=delivery_timeout,
        trusted_proxies=proxies,
        allowed_hosts=tuple(dict.fromkeys(allowed)),
        production=production,
        hub_allow=hub_allow,
        hub_rebroadcast=hub_rebroadcast,
        learning=_learning(env),
    )
