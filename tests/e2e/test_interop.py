"""Independent fediverse tools (../shared/interop) against a devnet node: WebFinger validator,
apmodel, fediverse-pasture's verify_actor, the funfedi.dev parsing cases and NodeInfo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KIT = Path(__file__).resolve().parents[2].parent / "shared" / "interop" / "run"


def test_interop_kit_reports_no_failure(devnet):
    """The interop kit ends with '0 failed' against county-a and a member account."""
    if not KIT.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the interop kit is missing at {KIT}")
        pytest.skip(f"the interop kit is not beside this checkout ({KIT})")
    node = devnet.nodes["county-a"]
    node.manage("member", "create", "ivy", "--name", "Ivy", "--random-password", check=True)
    domain = node.base_url.split("://", 1)[1]
    result = subprocess.run(
        [str(KIT), node.base_url, f"acct:ivy@{domain}"],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert result.returncode == 0, output[-4000:]
    assert any(line.strip().endswith(" passed, 0 failed") for line in output.splitlines()), output[-4000:]
    assert lines and not any(line.startswith("FAIL") for line in lines), "\n".join(lines)
