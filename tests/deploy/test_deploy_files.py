"""Production deployment files: nginx site, systemd units, env example, gunicorn settings.

These files are what a county operator copies onto a server, so each test checks them the way
the real tool would (``nginx -t``, ``systemd-analyze verify``, ``gunicorn --check-config``,
``node.config.load``) and falls back to a structural check only where the tool is missing.
"""

from __future__ import annotations

import ast
import configparser
import datetime
import os
import re
import runpy
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings

from node.config import ConfigError, load

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


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a throw-away certificate and key for ``county-a.example.org`` into ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "county-a.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("county-a.example.org")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# --- nginx ------------------------------------------------------------------------------------


def test_nginx_site_passes_nginx_t_with_a_real_certificate(tmp_path):
    """The site file is accepted by ``nginx -t`` once its certificate placeholders point at real files."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
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


def _unit_queues(name: str) -> set[str]:
    argv = read_unit(DEPLOY / "systemd" / name)["Service"]["ExecStart"].split()
    return set(argv[argv.index("--queues") + 1].split(","))


def test_systemd_workers_cover_every_queue_with_deliver_apart():
    """Between them the two workers consume every queue in settings, and only one consumes deliver."""
    main, deliver = _unit_queues("redcloud-worker.service"), _unit_queues("redcloud-deliver.service")
    assert deliver == {"deliver"}
    assert main == {"inbox", "fanout", "media", "default"}
    assert main | deliver == set(settings.NODE_QUEUES)
    beat = read_unit(DEPLOY / "systemd" / "redcloud-beat.service")["Service"]["ExecStart"].split()
    assert beat[3] == "beat"


def test_systemd_unit_variables_have_values():
    """Every ``${VAR}`` a unit's ExecStart uses has a default in the unit and an entry in the env example."""
    env = parse_env_text(ENV_EXAMPLE.read_text())
    for path in UNITS:
        service = read_unit(path)["Service"]
        defaults = dict(item.split("=", 1) for item in service.get("Environment", "").split())
        for name in re.findall(r"\$\{(\w+)\}", service["ExecStart"]):
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


# --- redcloud-manage --------------------------------------------------------------------------


def _run_wrapper(tmp_path: Path, env_text: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "redcloud.env"
    env_file.write_text(env_text)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "REDCLOUD_ENV_FILE": str(env_file),
        "REDCLOUD_HOME": str(ROOT),
        "REDCLOUD_USER": subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip(),
        **extra,
    }
    return subprocess.run([str(MANAGE_WRAPPER), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_redcloud_manage_reads_the_env_file_as_data(tmp_path):
    """The manage.py wrapper passes quoted values with spaces and shell characters through literally."""
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip(f"no virtualenv at {ROOT / '.venv'}")
    marker = tmp_path / "should-not-exist"
    text = (
        "# settings\n"
        '  NODE_NAME="Example  County"  \n'
        "export NODE_ROLE=prefecture\n"
        f"SECRET_KEY='$(touch {marker})x'\n"
        f"NODE_VAR_DIR={tmp_path / 'var'}\n"
        "NODE_DOMAIN=from-file.example\n"
    )
    code = "from django.conf import settings as s; print(repr((s.NODE_NAME, s.NODE_ROLE, s.SECRET_KEY, s.NODE_DOMAIN)))"
    result = _run_wrapper(tmp_path, text, "shell", "-c", code, NODE_DOMAIN="from-environment.example")
    assert result.returncode == 0, result.stderr
    expected = ("Example  County", "prefecture", f"$(touch {marker})x", "from-environment.example")
    assert result.stdout.strip().splitlines()[-1] == repr(expected)
    assert not marker.exists()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_redcloud_manage_refuses_a_malformed_line_before_running_anything(tmp_path):
    """A line that is not KEY=VALUE stops the wrapper with its line number, and manage.py never runs."""
    text = f"NODE_VAR_DIR={tmp_path / 'var'}\nthis is not an assignment\n"
    result = _run_wrapper(tmp_path, text, "migrate")
    assert result.returncode == 1
    assert "redcloud.env:2: expected KEY=VALUE" in result.stderr
    assert not (tmp_path / "var").exists()


def test_python_is_the_version_debian_12_ships():
    """The deploy guide installs Debian 12's python3.11; the project must run on it."""
    assert sys.version_info[:2] == (3, 11)


# --- docs -------------------------------------------------------------------------------------


def test_contributing_maps_every_module():
    """CONTRIBUTING.md's code map names every module of every package, so the map cannot go stale."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    missing = []
    for package in ("node", "groups", "learning", "microblog", "federation"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT / package).as_posix()
            if "migrations/" in relative or path.name in {"__init__.py", "apps.py"}:
                continue
            if f"`{relative}`" not in text:
                missing.append(f"{package}/{relative}")
    assert missing == []


def test_readme_starts_with_the_title_and_the_two_commands():
    """README.md opens with the project title and the two commands a newcomer needs, nothing before."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[:6] == ["# Redcloud", "", "```sh", "make run", "make test", "```"]
    for target in ("run:", "test:"):
        assert any(line.startswith(target) for line in (ROOT / "Makefile").read_text().splitlines())


def test_operator_guide_names_every_unit_and_file_it_installs():
    """deploy/README.md installs every systemd unit and copies the nginx site and env example it ships."""
    guide = (DEPLOY / "README.md").read_text()
    for unit in UNITS:
        assert unit.stem in guide, unit.name
    for shipped in ("deploy/nginx/redcloud.conf", "deploy/redcloud.env.example", "deploy/bin/redcloud-manage"):
        assert shipped in guide and (ROOT / shipped).exists(), shipped
    for command in ("node firstrun", "node status", "member create", "member token", "/healthz", "pg_dump"):
        assert command in guide, command


# --- nginx in front of gunicorn, for real -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited early with {proc.returncode}: {proc.args}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on 127.0.0.1:{port} after {seconds}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process this test started (by its pid) and wait for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_nginx_site_in_front_of_gunicorn_serves_the_node(tmp_path):
    """Through the shipped site and gunicorn settings: http redirects, Host reaches Django, files and limits hold."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    gunicorn = ROOT / ".venv" / "bin" / "gunicorn"
    if nginx is None or not gunicorn.exists():
        pytest.skip("nginx not installed: apt-get install nginx-light (Debian) to run this check")
    http_port, https_port, app_port = _free_port(), _free_port(), _free_port()
    var = tmp_path / "var"
    (var / "static").mkdir(parents=True)
    (var / "media").mkdir()
    (var / "static" / "deploy-probe.txt").write_text("served by nginx\n")
    (var / "media" / "upload.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>\n')
    cert, key = self_signed_cert(tmp_path)
    site = (
        SITE.read_text()
        .replace(PLACEHOLDER_CERT, str(cert))
        .replace(PLACEHOLDER_KEY, str(key))
        .replace("listen [::]:80;", "")
        .replace("listen [::]:443 ssl http2;", "")
        .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
        .replace("server 127.0.0.1:8000", f"server 127.0.0.1:{app_port}")
        .replace("/var/lib/redcloud/", f"{var}/")
    )
    (tmp_path / "site.conf").write_text(site)
    temp_dirs = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        ("user root root;\n" if os.geteuid() == 0 else "")  # workers must read files under tmp_path
        + f"daemon off;\npid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
        + "worker_processes 1;\nevents {}\nhttp {\n"
        + f"    access_log {tmp_path / 'access.log'};\n{temp_dirs}\n    include {tmp_path / 'site.conf'};\n}}\n"
    )
    app_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "NODE_DOMAIN": "county-a.example.org",
        "NODE_VAR_DIR": str(var),
        "GUNICORN_BIND": f"127.0.0.1:{app_port}",
        "GUNICORN_WORKERS": "1",
    }
    web = subprocess.Popen(
        [str(gunicorn), "--config", str(GUNICORN_CONF), "node.wsgi"],
        cwd=ROOT,
        env=app_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proxy = subprocess.Popen(
        [nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(app_port, web)
        _wait_for_port(https_port, proxy)
        _wait_for_port(http_port, proxy)
        host = {"Host": "county-a.example.org"}
        plain = urllib3.PoolManager(retries=False, timeout=10)
        tls = urllib3.PoolManager(retries=False, timeout=10, cert_reqs="CERT_NONE", assert_hostname=False)
        https = f"https://127.0.0.1:{https_port}"

        redirect = plain.request("GET", f"http://127.0.0.1:{http_port}/healthz", headers=host, redirect=False)
        assert redirect.status == 301
        assert redirect.headers["Location"] == "https://county-a.example.org/healthz"

        health = tls.request("GET", f"{https}/healthz", headers=host)
        assert health.status == 200, health.data[:300]
        assert health.json()["status"] == "ok"
        # Django only answers to NODE_DOMAIN and loopback names, so a host that nginx did not pass
        # through unchanged would have been refused with 400.
        other = tls.request("GET", f"{https}/healthz", headers={"Host": "elsewhere.example"})
        assert other.status == 400

        static = tls.request("GET", f"{https}/static/deploy-probe.txt", headers=host)
        assert static.status == 200 and static.data == b"served by nginx\n"
        media = tls.request("GET", f"{https}/media/upload.svg", headers=host)
        assert media.status == 200 and media.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in media.headers["Content-Security-Policy"]

        # 2 MiB passes nginx and reaches Django (whose CSRF check refuses it); 17 MiB stops at nginx.
        reached = tls.request("POST", f"{https}/healthz", body=b"x" * (2 << 20), headers=host)
        assert reached.status == 403 and b"CSRF" in reached.data
        too_big = tls.request("POST", f"{https}/healthz", body=b"x" * (17 << 20), headers=host)
        assert too_big.status == 413 and b"nginx" in too_big.data
    finally:
        _stop(proxy)
        _stop(web)
