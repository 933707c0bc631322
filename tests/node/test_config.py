"""Settings parsing: the environment is validated once, with errors a person can act on."""

from __future__ import annotations

import pytest

from node.config import ConfigError, load, normalise_domain


def test_load_embedded_default_needs_no_environment(tmp_path):
    """An empty environment gives SQLite and a file broker under var/, and a stable secret key."""
    cfg = load({}, tmp_path)
    assert cfg.database_url.startswith("sqlite:///")
    assert cfg.database_url.endswith("var/db.sqlite3")
    assert cfg.embedded_broker is True
    assert cfg.domain == "127.0.0.1:8000"
    assert cfg.role == "county"
    assert cfg.allow_private_addresses is False
    assert cfg.registration == "closed"
    again = load({}, tmp_path)
    assert again.secret_key == cfg.secret_key and len(cfg.secret_key) >= 40
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0


def test_load_bad_role_names_the_variable_and_choices(tmp_path):
    """A wrong NODE_ROLE stops start-up with the list of valid roles."""
    with pytest.raises(ConfigError, match=r"NODE_ROLE='town'.*county, prefecture, province"):
        load({"NODE_ROLE": "town"}, tmp_path)


@pytest.mark.parametrize(
    "domain",
    ["https://a.example", "a.example/path", "user@a.example", "a..example", "-a.example", "a.example:99999", ""],
)
def test_load_malformed_domain_is_refused(tmp_path, domain):
    """NODE_DOMAIN must be a bare host with an optional port."""
    with pytest.raises(ConfigError, match="NODE_DOMAIN"):
        load({"NODE_DOMAIN": domain}, tmp_path)


def test_normalise_domain_lowercases_and_encodes_idna():
    """Hosts are compared in one canonical form: lower case, IDNA A-labels, port kept."""
    assert normalise_domain("County-A.Example:8101") == "county-a.example:8101"
    assert normalise_domain("云南.example") == "xn--9kq39i.example"


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"NODE_REGION_CODE": "53"}, "NODE_REGION_CODE"),
        ({"NODE_PARENT": "ftp://hub"}, "NODE_PARENT"),
        ({"NODE_ROLE": "province", "NODE_PARENT": "http://hub.example"}, "province node has no parent"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"NODE_REGISTRATION": "open"}, "NODE_REGISTRATION"),
    ],
)
def test_load_rejects_invalid_values(tmp_path, env, match):
    """Each invalid variable gives a ConfigError naming it."""
    with pytest.raises(ConfigError, match=match):
        load(env, tmp_path)


def test_load_production_refuses_insecure_defaults(tmp_path):
    """Production needs a secret key, https, no DEBUG and no private-address federation."""
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load({"NODE_PRODUCTION": "1", "NODE_DOMAIN": "a.example"}, tmp_path)
    good = {"NODE_PRODUCTION": "1", "NODE_DOMAIN": "a.example", "SECRET_KEY": "x" * 50}
    cfg = load(good, tmp_path)
    assert cfg.base_url == "https://a.example" and cfg.debug is False
    with pytest.raises(ConfigError, match="FEDERATION_ALLOW_PRIVATE_ADDRESSES"):
        load({**good, "FEDERATION_ALLOW_PRIVATE_ADDRESSES": "1"}, tmp_path)
    with pytest.raises(ConfigError, match="DEBUG"):
        load({**good, "DEBUG": "1"}, tmp_path)


def test_settings_import_reports_config_error(tmp_path):
    """Importing the settings with a bad role fails with a clear ImproperlyConfigured message."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NODE_ROLE": "town", "NODE_VAR_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Redcloud configuration error: NODE_ROLE='town'" in proc.stderr


@pytest.mark.parametrize("value", ["fast", "0", "2"])
def test_load_rejects_bad_time_scale(tmp_path, value):
    """FEDERATION_TIME_SCALE must be a number in (0.001, 1]."""
    with pytest.raises(ConfigError, match="FEDERATION_TIME_SCALE"):
        load({"FEDERATION_TIME_SCALE": value}, tmp_path)


def test_load_production_requires_real_time(tmp_path):
    """A production node refuses a shrunk federation clock."""
    env = {"NODE_PRODUCTION": "1", "NODE_DOMAIN": "a.example", "SECRET_KEY": "x" * 50, "FEDERATION_TIME_SCALE": "0.5"}
    with pytest.raises(ConfigError, match="real time"):
        load(env, tmp_path)
