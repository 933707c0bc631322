"""The county process model is the same wherever a node runs: systemd, ``make run``, devnet, bench.

A county node is gunicorn (master + workers) and ONE Celery worker process: threads pool, every
queue, beat as a thread (``--beat-thread``, node/celery.py). Large nodes may move deliveries
and beat into ``redcloud-deliver`` and ``redcloud-beat``, but never run two beats.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from celery.exceptions import ImproperlyConfigured
from django.conf import settings

from bench.servers import BenchNode
from node.celery import ThreadedBeat, app
from node.devnet_node import NodeHandle, NodeSpec
from tests.deploy.deployfiles import DEPLOY, ENV_EXAMPLE, ROOT, parse_env_text, read_unit, unit_environment

SYSTEMD = DEPLOY / "systemd"
LARGE_NODE = {"REDCLOUD_WORKER_QUEUES": "inbox,fanout,media,default", "REDCLOUD_WORKER_BEAT": ""}


def unit_argv(name: str, overrides: dict[str, str] | None = None, key: str = "ExecStart") -> list[str]:
    """``key`` of unit ``name`` as systemd runs it: the unit's Environment= defaults, overridden
    by ``overrides`` (the env file), ``${VAR}`` giving one argument and a bare ``$VAR`` word
    split at whitespace (zero arguments when empty)."""
    path = SYSTEMD / name
    env = {**unit_environment(path), **(overrides or {})}
    argv: list[str] = []
    for word in read_unit(path)["Service"][key].split():
        bare = re.fullmatch(r"\$(\w+)", word)
        if bare:
            argv += env.get(bare.group(1), "").split()
        else:
            argv.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), word))
    return argv


def model(argv: list[str]) -> dict[str, object]:
    """The process-model facts of a ``celery worker`` command line (short or long options)."""

    def value(*names: str) -> str | None:
        for name in names:
            if name in argv:
                return argv[argv.index(name) + 1]
        return None

    return {
        "pool": value("-P", "--pool"),
        "concurrency": value("-c", "--concurrency"),
        "queues": set((value("-Q", "--queues") or "").split(",")),
        "beat_thread": "--beat-thread" in argv,
        "forked_beat": "-B" in argv or "--beat" in argv,
    }


COUNTY = {
    "pool": "threads",
    "concurrency": "8",
    "queues": set(settings.NODE_QUEUES),
    "beat_thread": True,
    "forked_beat": False,
}


def test_county_worker_unit_is_one_threaded_process_for_every_queue_with_beat():
    """The worker unit, with its defaults and with the env example, runs the county model and nothing prefork."""
    defaults = unit_argv("redcloud-worker.service")
    example = unit_argv("redcloud-worker.service", parse_env_text(ENV_EXAMPLE.read_text()))
    assert model(defaults) == COUNTY
    assert model(example) == COUNTY
    assert "--max-tasks-per-child" not in defaults  # a prefork option; the threads pool ignores it
    assert parse_env_text(ENV_EXAMPLE.read_text())["GUNICORN_WORKERS"] == "2"


def test_large_node_layout_splits_deliver_and_beat_out_of_the_worker():
    """With the documented env lines the worker drops deliver and beat; the two optional units take them."""
    worker = model(unit_argv("redcloud-worker.service", LARGE_NODE))
    deliver = model(unit_argv("redcloud-deliver.service"))
    assert worker["queues"] == {"inbox", "fanout", "media", "default"}
    assert worker["beat_thread"] is False and worker["forked_beat"] is False
    assert "" not in unit_argv("redcloud-worker.service", LARGE_NODE)  # empty $VAR gives no argument
    assert deliver["queues"] == {"deliver"} and deliver["beat_thread"] is False
    assert worker["queues"] | deliver["queues"] == set(settings.NODE_QUEUES)
    assert unit_argv("redcloud-beat.service")[3] == "beat"
    for line in LARGE_NODE.items():
        assert "=".join(line) in (DEPLOY / "README.md").read_text()


@pytest.mark.parametrize(
    ("env_file", "starts"),
    [({}, False), ({"REDCLOUD_WORKER_BEAT": "--beat-thread"}, False), ({"REDCLOUD_WORKER_BEAT": ""}, True)],
)
def test_beat_unit_starts_only_when_the_worker_runs_no_beat(env_file, starts):
    """redcloud-beat's start check passes only once the env file empties REDCLOUD_WORKER_BEAT (one beat per node)."""
    path = SYSTEMD / "redcloud-beat.service"
    command = read_unit(path)["Service"]["ExecStartPre"].replace("$$", "$")  # systemd's escape for a literal $
    env = {"PATH": "/usr/bin:/bin", **unit_environment(path), **env_file}
    result = subprocess.run(shlex.split(command), env=env, capture_output=True, text=True, timeout=10)
    assert (result.returncode == 0) is starts
    if not starts:
        assert "REDCLOUD_WORKER_BEAT" in result.stderr


def test_make_run_devnet_and_bench_start_the_county_worker(tmp_path: Path):
    """Procfile.dev (make run), devnet nodes and the B12 bench run the worker exactly as the systemd unit does."""
    procfile = dict(line.split(":", 1) for line in (ROOT / "Procfile.dev").read_text().splitlines() if line.strip())
    assert set(procfile) == {"web", "worker"}  # no separate beat: it is a thread of the worker
    assert model(procfile["worker"].split()) == COUNTY
    handle = NodeHandle(
        NodeSpec("county-a", "county"),
        port=8100,
        parent_url="",
        env={},
        var_dir=tmp_path,
        env_file=tmp_path / "county-a.env",
    )
    assert model(handle.command("worker")) == COUNTY
    assert model(BenchNode.worker_command()) == COUNTY


def test_beat_thread_is_a_worker_option_that_refuses_a_second_beat():
    """``--beat-thread`` is registered on ``celery worker``, and combined with ``-B`` the worker refuses to start."""
    assert "beat_thread" in {option.name for option in app.user_options["worker"]}
    assert ThreadedBeat in app.steps["worker"]
    assert ThreadedBeat(object(), beat_thread=True).enabled is True
    assert ThreadedBeat(object(), beat_thread=False, beat=True).enabled is False
    with pytest.raises(ImproperlyConfigured, match="only one beat"):
        ThreadedBeat(object(), beat_thread=True, beat=True)
