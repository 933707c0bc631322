"""The project and operator docs stay in step with the code and the files they describe."""

from __future__ import annotations

from tests.deploy.deployfiles import DEPLOY, ROOT, UNITS


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
