"""The shipped nginx site in front of gunicorn with the shipped settings, as real processes on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
import urllib3

from tests.deploy.deployfiles import (
    GUNICORN_CONF,
    PLACEHOLDER_CERT,
    PLACEHOLDER_KEY,
    ROOT,
    SITE,
    nginx_binary,
    self_signed_cert,
)


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
    nginx = nginx_binary()
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
        # Run outside the checkout so nothing the app writes relative to its working directory
        # (kombu's file-system transport keeps a "control" folder there) lands in the repo.
        "PYTHONPATH": str(ROOT),
    }
    web = subprocess.Popen(
        [str(gunicorn), "--config", str(GUNICORN_CONF), "node.wsgi"],
        cwd=tmp_path,
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
