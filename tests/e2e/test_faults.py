"""Delivery survives faults: a stopped peer, a flushed broker, a worker killed mid-delivery.

Two real nodes with their own databases and workers. ``FEDERATION_TIME_SCALE=0.02`` shrinks
every federation timer (1 min backoff → 1.2 s, 10 min lease → 12 s) so the real retry, lease and
sweeper code plays out in seconds; nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator

import pytest

from node.devnet import Devnet
from tests.e2e.conftest import devnet_backends
from tests.e2e.helpers import actor_id, collection_items, handle, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def faultnet(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Devnet]:
    """Two nodes (fault-a, fault-b) apart from the shared devnet, with fast federation timers."""
    backends = devnet_backends(worker_id, 2)
    if backends["redis_url"]:  # keep clear of the shared devnet's Redis databases
        base, _, number = backends["redis_url"].rpartition("/")
        backends["redis_url"] = f"{base}/{int(number) + 6}"
    backends["label"] = f"f{backends['label']}"
    net = Devnet(
        "fault-a:county,fault-b:county",
        directory=tmp_path_factory.mktemp("faultnet"),
        extra_env={"FEDERATION_TIME_SCALE": "0.02", "FEDERATION_DELIVERY_TIMEOUT": "30"},
        startup_timeout=90,
        **backends,
    )
    net.start()
    try:
        a, b = net.nodes["fault-a"], net.nodes["fault-b"]
        b.manage("member", "create", "bob", "--name", "Bob", "--random-password", check=True)
        a.manage("federation", "lookup", handle(b, "bob"), check=True)  # cache bob on fault-a
        yield net
    finally:
        net.stop()


def follow_from_new_members(node, target_handle: str, prefix: str, count: int) -> None:
    """Create ``count`` members on ``node`` in one process, each following ``target_handle``."""
    script = (
        "from node.accounts import create_member\n"
        "from federation.lookup import resolve_handle\n"
        "from federation.follows import follow\n"
        f"target = resolve_handle({target_handle!r})\n"
        f"for i in range({count}):\n"
        f"    user = create_member('{prefix}%d' % i, display_name='M%d' % i)\n"
        "    follow(user.actor, target)\n"
    )
    node.manage("shell", "-c", script, check=True)


def count_on(node, expression: str) -> int:
    """Evaluate a Django ORM count on ``node`` (its own database) and return it."""
    script = f"from django.utils import timezone\nfrom federation.models import *\nprint({expression})"
    result = node.manage("shell", "-c", script, check=True)
    return int(result.stdout.strip().splitlines()[-1])


def diagnose(node) -> str:
    """Delivery states on ``node`` and the tail of its worker log: what a timed-out wait prints."""
    states = node.manage(
        "shell",
        "-c",
        "from django.db.models import Count\nfrom federation.models import Delivery\n"
        "print(list(Delivery.objects.values_list('state', 'attempts').annotate(n=Count('id')).order_by()))",
    ).stdout.strip()
    try:
        tail = node.log_path("worker").read_text(errors="replace").splitlines()[-25:]
    except OSError:
        tail = []
    return f"deliveries (state, attempts, n) on {node.name}: {states}\nworker log tail:\n" + "\n".join(tail)


def wait_or_diagnose(node, predicate, **kwargs) -> None:
    """``wait_until`` that, on timeout, adds ``node``'s delivery states and worker log to the failure."""
    try:
        wait_until(predicate, **kwargs)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{diagnose(node)}") from None


def test_stopped_peer_gets_all_50_activities_exactly_once(faultnet):
    """fault-b's web is down while fault-a sends 50 Follows; after restart all 50 arrive, each once."""
    a, b = faultnet.nodes["fault-a"], faultnet.nodes["fault-b"]
    bob = actor_id(b, "bob")
    b.stop_process("web")
    try:
        follow_from_new_members(a, handle(b, "bob"), "down", 50)
        # Every one of the 50 has been tried and refused at least once (none got through).
        wait_or_diagnose(
            a,
            lambda: (
                count_on(
                    a,
                    "Delivery.objects.filter(activity__type='Follow', attempts__gte=1)"
                    ".exclude(state='delivered').count()",
                )
                >= 50
            ),
            timeout=120,
            what="fault-a to try and fail all 50 deliveries",
        )
        assert count_on(a, "Delivery.objects.filter(activity__type='Follow', state='delivered').count()") == 0
    finally:
        b.start_process("web")
    b.wait_healthy(timeout=60)
    wait_or_diagnose(
        a,
        lambda: count_on(b, "InboxItem.objects.filter(activity_type='Follow').count()") >= 50,
        timeout=180,
        interval=2,
        what="all 50 Follows to reach fault-b",
    )
    wait_until(
        lambda: count_on(b, "InboxItem.objects.filter(activity_type='Follow', state='processed').count()") >= 50,
        timeout=60,
        what="fault-b to process the 50 Follows",
    )
    assert count_on(b, "InboxItem.objects.filter(activity_type='Follow').count()") == 50
    assert count_on(b, "Follow.objects.filter(state='accepted').count()") == 50
    assert len(collection_items(f"{bob}/followers")) == 50
    assert count_on(a, "Delivery.objects.filter(activity__type='Follow').exclude(state='delivered').count()") == 0


def _flush_broker(node) -> None:
    """Lose every queued message of ``node``'s broker (Redis FLUSHDB, or the broker's files)."""
    redis_url = node.env.get("REDIS_URL")
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        return
    out = node.var_dir / "broker" / "out"
    for entry in out.iterdir():
        if entry.is_file():
            entry.unlink()
        else:
            shutil.rmtree(entry)


def test_flushed_broker_loses_no_delivery(faultnet):
    """Deliveries queued while fault-a's worker is down survive a broker flush: the sweeper sends them."""
    a, b = faultnet.nodes["fault-a"], faultnet.nodes["fault-b"]
    before = count_on(b, "InboxItem.objects.filter(activity_type='Follow').count()")
    a.stop_process("worker")
    try:
        follow_from_new_members(a, handle(b, "bob"), "flush", 10)
        assert count_on(a, "Delivery.objects.filter(state='pending').count()") >= 10
        _flush_broker(a)
    finally:
        a.start_process("worker")
    a.wait_healthy(timeout=60)
    wait_or_diagnose(
        a,
        lambda: count_on(b, "InboxItem.objects.filter(activity_type='Follow').count()") >= before + 10,
        timeout=120,
        interval=2,
        what="the sweeper to deliver the 10 Follows whose messages were flushed",
    )
    assert count_on(b, "InboxItem.objects.filter(activity_type='Follow').count()") == before + 10


def test_worker_killed_mid_delivery_loses_nothing(faultnet):
    """fault-a's worker is SIGKILLed while its POSTs hang on a frozen peer; a new worker delivers everything."""
    a, b = faultnet.nodes["fault-a"], faultnet.nodes["fault-b"]
    before = count_on(b, "InboxItem.objects.filter(activity_type='Follow').count()")
    web = b.processes["web"]
    os.killpg(web.pid, signal.SIGSTOP)  # accepts connections, never answers: a blackhole
    try:
        follow_from_new_members(a, handle(b, "bob"), "kill", 10)
        # A delivery task has leased its row (next_attempt_at pushed into the future) and hangs in POST.
        wait_until(
            lambda: (
                count_on(
                    a,
                    "Delivery.objects.filter(activity__type='Follow', state='pending', attempts=0,"
                    " next_attempt_at__gt=timezone.now()).count()",
                )
                >= 1
            ),
            timeout=60,
            what="fault-a's worker to be blocked sending a leased delivery",
        )
        worker = a.processes["worker"]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        os.killpg(web.pid, signal.SIGCONT)
    time.sleep(1)
    a.start_process("worker")
    a.wait_healthy(timeout=60)
    wait_or_diagnose(
        a,
        lambda: count_on(b, "InboxItem.objects.filter(activity_type='Follow').count()") >= before + 10,
        timeout=180,
        interval=2,
        what="the 10 Follows leased by the killed worker to arrive",
    )
    assert count_on(b, "InboxItem.objects.filter(activity_type='Follow').count()") == before + 10
