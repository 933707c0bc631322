"""Production deployment files: nginx site, systemd units, env example, gunicorn settings.

These files are what a county operator copies onto a server, so each test checks them the way
the real tool would (``nginx -t``, ``systemd-analyze verify``, ``gunicorn --check-config``,
``node.config.load``) and falls back to a structural check only where the tool is missing.
"""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from node.config import ConfigError, load
from tests.deploy.deployfiles import (
    ENV_EXAMPLE,
    GUNICORN_CONF,
    INSTALL_DIR,
    PLACEHOLDER_CERT,
    PLACEHOLDER_KEY,
    ROOT,
    SITE,
    UNITS,
    config_variables,
    nginx_binary,
    parse_env_text,
    production_env,
    read_unit,
    self_signed_cert,
    unit_environment,
)

# --- nginx ------------------------------------------------------------------------------------


def test_nginx_site_passes_nginx_t_with_a_real_certificate(tmp_path):
    """The site file is accepted by ``nginx -t`` once its certificate placeholders point at real files."""
    nginx = nginx_binary()
    if nginx is None:
        pytest.skip("nginx not installed: apt-get install nginx-light (Debian) to run this check")
    text = SITE.read_text()
    assert PLACEHOLDER_CERT in text and PLACEHOLDER_KEY in text
    cert, key = self_signed_cert(tmp_path)
    site = tmp_path / "redcloud.conf"
    site.write_text(text.replace(PLACEHOLDER_CERT, str(cert)).replace(PLACEHOLDER_KEY, str(key)))
    main = tmp_path / "nginx.conf"
    temp_dirs = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main.write_text(
        f"pid {tmp_path / 'nginx.pid'};\n"
        f"error_log {tmp_path / 'error.log'};\n"
        "events {}\n"
        "http {\n"
        f"    access_log {tmp_path / 'access.log'};\n"
        f"{temp_dirs}\n"
        f"    include {site};\n"
        "}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-q", "-c", str(main), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "[emerg]" not in result.stderr and "[warn]" not in result.stderr, result.stderr


def test_nginx_site_keeps_host_and_forwards_client_details():
    """Proxied requests keep the signed Host header unchanged and carry the client address and scheme."""
    text = SITE.read_text()
    assert re.search(r"proxy_set_header\s+Host\s+\$http_host;", text)
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$\S+;", text)
    assert re.search(r"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;", text)
    assert re.search(r"return\s+301\s+https://\$host\$request_uri;", text)
    assert re.search(r"listen\s+443\s+ssl", text)
    assert re.search(r"ssl_protocols\s+TLSv1\.2\s+TLSv1\.3;", text)


def test_nginx_site_body_limit_exceeds_the_app_limit_and_serves_static_and_media():
    """nginx lets bodies above the app's 1 MiB ActivityPub limit through and serves collected files itself."""
    text = SITE.read_text()
    match = re.search(r"client_max_body_size\s+(\d+)([km]?);", text)
    assert match, "client_max_body_size missing"
    size = int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2)]
    assert size > settings.FEDERATION_MAX_BODY_BYTES
    env = parse_env_text(ENV_EXAMPLE.read_text())
    assert f"alias {env['NODE_VAR_DIR']}/static/;" in text
    assert f"alias {env['MEDIA_ROOT']}/;" in text
    assert f"server {env['GUNICORN_BIND']}" in text


# --- systemd ----------------------------------------------------------------------------------


def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    """``systemd-analyze verify`` accepts every unit, with the install path pointed at this checkout."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed; test_systemd_units_are_complete checks the structure")
    if not (ROOT / ".venv" / "bin" / "gunicorn").exists():
        pytest.skip(f"no virtualenv at {ROOT / '.venv'} for the units' ExecStart paths")
    copies = []
    for unit in UNITS:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(INSTALL_DIR, str(ROOT)))
        copies.append(str(copy))
    result = subprocess.run([analyze, "verify", "--man=no", *copies], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # verify only warns about unknown keys and unparsable values; treat any message as a failure.
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def test_systemd_units_are_complete():
    """Each unit runs as redcloud from the env file, is hardened, restarts, and starts a real entry point."""
    assert {u.name for u in UNITS} == {
        "redcloud-web.service",
        "redcloud-worker.service",
        "redcloud-deliver.service",
        "redcloud-beat.service",
    }
    env = parse_env_text(ENV_EXAMPLE.read_text())
    for path in UNITS:
        unit = read_unit(path)
        assert {"Unit", "Service", "Install"} <= set(unit.sections()), path.name
        service = unit["Service"]
        assert service["User"] == "redcloud" and service["Group"] == "redcloud", path.name
        assert service["EnvironmentFile"] == "/etc/redcloud/redcloud.env", path.name
        assert service["WorkingDirectory"] == INSTALL_DIR, path.name
        assert service["NoNewPrivileges"] == "yes" and service["PrivateTmp"] == "yes", path.name
        assert service["ProtectSystem"] == "strict", path.name
        assert env["NODE_VAR_DIR"] in service["ReadWritePaths"].split(), path.name
        assert service["Restart"] in {"always", "on-failure"}, path.name
        assert unit["Install"]["WantedBy"] == "multi-user.target", path.name
        argv = service["ExecStart"].split()
        assert argv[0].startswith(f"{INSTALL_DIR}/.venv/bin/"), path.name
        assert (ROOT / ".venv" / "bin" / Path(argv[0]).name).exists() or not (ROOT / ".venv").exists()
        if path.name == "redcloud-web.service":
            assert Path(argv[0]).name == "gunicorn" and "node.wsgi" in argv
            conf = argv[argv.index("--config") + 1]
            assert conf == f"{INSTALL_DIR}/deploy/gunicorn.conf.py" and GUNICORN_CONF.exists()
        else:
            assert Path(argv[0]).name == "celery" and argv[1:3] == ["-A", "node"], path.name
    assert (ROOT / "node" / "wsgi.py").exists() and (ROOT / "node" / "celery.py").exists()


def test_systemd_unit_variables_have_values():
    """Every ``${VAR}`` or ``$VAR`` a unit's ExecStart uses has a default in the unit and an entry in the env example."""
    env = parse_env_text(ENV_EXAMPLE.read_text())
    for path in UNITS:
        service = read_unit(path)["Service"]
        defaults = unit_environment(path)
        for name in re.findall(r"\$\{?(\w+)", service["ExecStart"]):
            assert defaults.get(name), f"{path.name}: no Environment= default for {name}"
            assert env.get(name), f"{name} missing from {ENV_EXAMPLE.name}"


# --- env example ------------------------------------------------------------------------------


def test_env_example_lists_every_variable_config_reads():
    """Every variable node/config.py reads appears in the env example and in the README's table."""
    names = config_variables()
    assert {"NODE_DOMAIN", "NODE_PRODUCTION", "SECRET_KEY", "DATABASE_URL", "NODE_VAR_DIR"} <= names
    env = parse_env_text(ENV_EXAMPLE.read_text())
    assert names - set(env) == set()
    readme = (ROOT / "README.md").read_text()
    assert {name for name in names if f"| `{name}` |" not in readme} == set()


def test_env_example_loads_as_a_valid_production_config(tmp_path):
    """With a real secret, the env example is a production config: https, Redis, PostgreSQL, no debug."""
    cfg = load(production_env(tmp_path), ROOT)
    assert cfg.production is True and cfg.debug is False
    assert cfg.scheme == "https" and cfg.base_url == "https://county-a.example.org"
    assert cfg.database_url.startswith("postgres://") and cfg.embedded_broker is False
    assert cfg.allow_private_addresses is False
    assert cfg.allowed_hosts == ("county-a.example.org",)
    assert not (tmp_path / "var" / "secret_key").exists()


def test_env_example_placeholder_secret_is_refused(tmp_path):
    """A node started with the example's placeholder SECRET_KEY stops with an error naming SECRET_KEY."""
    env = production_env(tmp_path)
    env["SECRET_KEY"] = parse_env_text(ENV_EXAMPLE.read_text())["SECRET_KEY"]
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load(env, ROOT)
    assert not (tmp_path / "var" / "secret_key").exists()


# --- gunicorn ---------------------------------------------------------------------------------


def test_gunicorn_conf_sets_bind_and_capped_workers(monkeypatch):
    """The gunicorn settings bind to loopback and size workers as 2 x cores + 1, capped, unless overridden."""
    for name in ("GUNICORN_BIND", "GUNICORN_WORKERS", "NODE_TRUSTED_PROXIES", "RUNTIME_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(GUNICORN_CONF))
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert 3 <= conf["workers"] <= conf["MAX_WORKERS"]
    assert conf["default_workers"](1) == 3 and conf["default_workers"](64) == conf["MAX_WORKERS"]
    assert conf["forwarded_allow_ips"] == "127.0.0.1,::1"
    assert conf["control_socket_disable"] is True

    monkeypatch.setenv("GUNICORN_BIND", "unix:/run/redcloud-web/web.sock")
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    monkeypatch.setenv("NODE_TRUSTED_PROXIES", "10.0.0.5")
    monkeypatch.setenv("RUNTIME_DIRECTORY", "/run/redcloud-web")
    conf = runpy.run_path(str(GUNICORN_CONF))
    assert conf["bind"] == ["unix:/run/redcloud-web/web.sock"] and conf["workers"] == 3
    assert conf["forwarded_allow_ips"] == "10.0.0.5"
    assert conf["control_socket"] == "/run/redcloud-web/gunicorn.ctl"


def test_gunicorn_conf_refuses_a_non_numeric_worker_count(monkeypatch):
    """A typo in GUNICORN_WORKERS stops gunicorn with the variable's name instead of a silent default."""
    monkeypatch.setenv("GUNICORN_WORKERS", "four")
    with pytest.raises(ValueError, match="GUNICORN_WORKERS"):
        runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_check_config_loads_the_app_with_the_production_env(tmp_path):
    """``gunicorn --check-config`` accepts the settings and imports node.wsgi under the example env."""
    gunicorn = ROOT / ".venv" / "bin" / "gunicorn"
    if not gunicorn.exists():
        pytest.skip(f"gunicorn not installed in {ROOT / '.venv'}")
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    command = [str(gunicorn), "--check-config", "--config", str(GUNICORN_CONF), "node.wsgi"]
    good = subprocess.run(
        command, cwd=ROOT, env={**base, **production_env(tmp_path)}, capture_output=True, text=True, timeout=60
    )
    assert good.returncode == 0, good.stderr
    bad_env = {**base, **production_env(tmp_path), "SECRET_KEY": "replace-me"}
    bad = subprocess.run(command, cwd=ROOT, env=bad_env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "SECRET_KEY" in bad.stderr
