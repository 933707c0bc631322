"""``deploy/bin/redcloud-manage``: manage.py with the production env file, read as data."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.deployfiles import MANAGE_WRAPPER, ROOT


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
