"""Outbound delivery against fake inboxes on loopback: signing, outcomes, retries, leases, health."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from federation import delivery
from federation.delivery import BACKOFF_SECONDS, LEASE, PROBE_INTERVAL, backoff_delay, parse_retry_after
from federation.models import Delivery, DeliveryState, Domain
from federation.outbox import publish
from federation.policy import forget_blocks
from federation.tasks import deliver_activity_task, deliver_domain_task, sweep_deliveries_task
from tests.federation.fakeserver import FakeServer, Reply

pytestmark = pytest.mark.django_db
_ids = iter(range(1, 1_000_000))


@pytest.fixture(autouse=True)
def _loopback(settings):
    """Fake inboxes on loopback, short timeouts, our node elsewhere, a fresh block list."""
    settings.FEDERATION_ALLOW_PRIVATE_ADDRESSES = True
    settings.FEDERATION_DELIVERY_TIMEOUT = 1.0
    settings.NODE_DOMAIN = "county.test"
    forget_blocks()


@pytest.fixture
def servers():
    """Factory of extra started fake servers, all stopped after the test."""
    started: list[FakeServer] = []

    def make() -> FakeServer:
        server = FakeServer().start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def fake_server(servers) -> FakeServer:
    """One fake remote server (its inbox routes are set by each test)."""
    return servers()


def _publish(actor, inboxes: list[str]):
    """Publish a Create to ``inboxes`` without running the on-commit task (tests drive it)."""
    n = next(_ids)
    activity = {"id": f"http://county.test/activities/{n}", "type": "Create", "actor": actor.ap_id, "object": {}}
    return publish(activity, actor=actor, inboxes=inboxes, object_ap_id=f"http://county.test/objects/{n}")


def _refused_url() -> str:
    """An http URL on a loopback port nobody listens on (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/inbox"


def _seconds_until(when) -> float:
    return (when - timezone.now()).total_seconds()


def test_deliver_posts_signed_activity_when_inbox_accepts(local_member, fake_server):
    """A 202 marks the delivery delivered; the POST carries the body, a digest and a signature by the actor's key."""
    fake_server.route("POST", "/inbox", status=202)
    activity = _publish(local_member, [fake_server.url("/inbox")])
    deliver_activity_task(activity.pk)

    (request,) = fake_server.requests_to("/inbox", "POST")
    assert request.json() == activity.body
    assert request.header("content-type").startswith("application/ld+json")
    assert request.header("digest", "").startswith("SHA-256=")
    signature = request.header("signature", "")
    assert f'keyId="{local_member.public_key_id}"' in signature
    _verify(request, local_member)
    row = Delivery.objects.get()
    assert (row.state, row.attempts, row.last_status) == (DeliveryState.DELIVERED, 1, 202)
    assert row.delivered_at is not None
    domain = Domain.objects.get(host=row.domain)
    assert domain.last_success_at is not None and domain.consecutive_failures == 0


def _verify(request, actor) -> None:
    """Check the signature cryptographically with the project's verifier."""
    from federation.keys import load_public_key
    from federation.signatures import parse_signature, verify_signature

    target = f"{request.path}?{request.query}" if request.query else request.path
    parsed = parse_signature("POST", target, request.headers, request.body, expected_host=request.header("host"))
    assert parsed.key_id == actor.public_key_id
    verify_signature(parsed, load_public_key(actor.public_key_pem))


def test_deliver_fails_for_good_when_inbox_answers_410(local_member, fake_server):
    """A 410 fails the delivery permanently: no retry is scheduled and a second run sends nothing."""
    fake_server.route("POST", "/inbox", status=410)
    activity = _publish(local_member, [fake_server.url("/inbox")])
    deliver_activity_task(activity.pk)
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(hours=1))
    deliver_activity_task(activity.pk)
    sweep_deliveries_task()

    assert len(fake_server.requests) == 1
    row = Delivery.objects.get()
    assert (row.state, row.last_status, row.attempts) == (DeliveryState.FAILED, 410, 1)
    assert "410" in row.last_error


def test_deliver_retries_per_schedule_when_inbox_answers_503(local_member, fake_server):
    """A 503 keeps the delivery pending with attempts + 1 and the first backoff step (±10 %)."""
    fake_server.route("POST", "/inbox", status=503)
    activity = _publish(local_member, [fake_server.url("/inbox")])
    deliver_activity_task(activity.pk)

    row = Delivery.objects.get()
    assert (row.state, row.attempts, row.last_status) == (DeliveryState.PENDING, 1, 503)
    assert BACKOFF_SECONDS[0] * 0.85 < _seconds_until(row.next_attempt_at) < BACKOFF_SECONDS[0] * 1.1
    domain = Domain.objects.get(host=row.domain)
    assert domain.consecutive_failures == 1 and domain.failing_since is not None and "503" in domain.last_error


def test_deliver_retries_later_steps_when_connection_refused(local_member):
    """A refused connection is retried; the third failure waits the third backoff step."""
    activity = _publish(local_member, [_refused_url()])
    Delivery.objects.update(attempts=2)
    deliver_activity_task(activity.pk)

    row = Delivery.objects.get()
    assert (row.state, row.attempts, row.last_status) == (DeliveryState.PENDING, 3, None)
    assert "ConnectionFailed" in row.last_error
    assert BACKOFF_SECONDS[2] * 0.85 < _seconds_until(row.next_attempt_at) < BACKOFF_SECONDS[2] * 1.1


def test_deliver_gives_up_when_schedule_exhausted(local_member, fake_server):
    """The attempt after the last backoff step fails the delivery instead of rescheduling it."""
    fake_server.route("POST", "/inbox", status=500)
    activity = _publish(local_member, [fake_server.url("/inbox")])
    Delivery.objects.update(attempts=len(BACKOFF_SECONDS))
    deliver_activity_task(activity.pk)
    row = Delivery.objects.get()
    assert (row.state, row.attempts) == (DeliveryState.FAILED, len(BACKOFF_SECONDS) + 1)


def test_deliver_honours_retry_after_when_inbox_answers_429(local_member, fake_server):
    """A 429 with ``Retry-After: 900`` is retried no sooner than 15 minutes."""
    fake_server.route("POST", "/inbox", status=429, headers={"Retry-After": "900"})
    activity = _publish(local_member, [fake_server.url("/inbox")])
    deliver_activity_task(activity.pk)
    row = Delivery.objects.get()
    assert row.state == DeliveryState.PENDING and row.last_status == 429
    assert 890 < _seconds_until(row.next_attempt_at) <= 900


def test_deliver_switches_to_rfc9421_when_cavage_rejected(local_member, fake_server):
    """A 401 to a draft-cavage signature is retried at once with RFC 9421; the domain remembers it."""

    def only_rfc9421(request) -> Reply:
        return Reply(202) if request.header("signature-input") else Reply(401)

    fake_server.route("POST", "/inbox", handler=only_rfc9421)
    first = _publish(local_member, [fake_server.url("/inbox")])
    deliver_activity_task(first.pk)
    assert [bool(r.header("signature-input")) for r in fake_server.requests] == [False, True]
    assert Domain.objects.get().signature_scheme == "rfc9421"
    assert Delivery.objects.get().state == DeliveryState.DELIVERED

    second = _publish(local_member, [fake_server.url("/inbox")])
    deliver_activity_task(second.pk)
    assert [bool(r.header("signature-input")) for r in fake_server.requests[2:]] == [True]


def test_deliver_keeps_healthy_hosts_fast_when_one_host_blackholed(local_member, servers, settings):
    """A peer that accepts TCP and never answers costs only its own timeout; healthy inboxes are served meanwhile."""
    settings.FEDERATION_DELIVERY_TIMEOUT = 1.5
    dead = servers()
    dead.route("POST", "/inbox", hang=True)
    arrivals: list[float] = []
    lock = threading.Lock()

    def accept(request) -> Reply:
        with lock:
            arrivals.append(time.monotonic())
        return Reply(202)

    healthy = [servers() for _ in range(5)]
    for server in healthy:
        server.route("POST", "/inbox", handler=accept)
    activity = _publish(local_member, [dead.url("/inbox")] + [s.url("/inbox") for s in healthy])

    start = time.monotonic()
    deliver_activity_task(activity.pk)
    elapsed = time.monotonic() - start
    assert len(arrivals) == 5 and max(arrivals) - start < 0.75
    assert elapsed < 1.5 + 1.0
    states = dict(Delivery.objects.values_list("domain", "state"))
    assert states.pop(dead.netloc) == DeliveryState.PENDING
    assert set(states.values()) == {DeliveryState.DELIVERED}
    assert "Timeout" in Delivery.objects.get(domain=dead.netloc).last_error


def test_deliver_sends_once_when_task_runs_twice(local_member, fake_server):
    """Running the delivery task again (or the sweeper) never re-sends a delivered row."""
    fake_server.route("POST", "/inbox", status=202)
    activity = _publish(local_member, [fake_server.url("/inbox")])
    deliver_activity_task(activity.pk)
    deliver_activity_task(activity.pk)
    deliver_domain_task(fake_server.netloc)
    sweep_deliveries_task()
    assert len(fake_server.requests) == 1


def test_claimed_rows_are_skipped_when_another_task_holds_the_lease(local_member, fake_server):
    """Rows leased by a running task are invisible to a concurrent task and to the sweeper."""
    fake_server.route("POST", "/inbox", status=202)
    activity = _publish(local_member, [fake_server.url("/inbox")])
    (claimed,) = delivery.claim_due(activity_id=activity.pk)
    assert _seconds_until(Delivery.objects.get(pk=claimed.pk).next_attempt_at) > LEASE.total_seconds() - 5
    deliver_activity_task(activity.pk)
    assert sweep_deliveries_task() == 0
    assert fake_server.requests == []


def test_sweeper_requeues_delivery_when_lease_expired(local_member, fake_server):
    """A row whose worker died mid-task (lease in the past) is found by the sweeper and delivered."""
    fake_server.route("POST", "/inbox", status=202)
    activity = _publish(local_member, [fake_server.url("/inbox")])
    delivery.claim_due(activity_id=activity.pk)  # the worker that claimed it dies here
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=2))
    assert sweep_deliveries_task() == 1
    assert len(fake_server.requests) == 1
    assert Delivery.objects.get().state == DeliveryState.DELIVERED


def test_domain_marked_unreachable_when_failures_persist(local_member):
    """The tenth consecutive failure after an hour of failing marks the domain unreachable and parks its queue."""
    url = _refused_url()
    first = _publish(local_member, [url])
    second = _publish(local_member, [url])
    host = Delivery.objects.get(activity=first).domain
    Domain.objects.create(host=host, consecutive_failures=9, failing_since=timezone.now() - timedelta(hours=2))
    Delivery.objects.filter(activity=second).update(next_attempt_at=timezone.now() + timedelta(minutes=1))
    deliver_activity_task(first.pk)

    domain = Domain.objects.get(host=host)
    assert domain.unreachable_since is not None and domain.consecutive_failures == 10
    assert PROBE_INTERVAL.total_seconds() - 5 < _seconds_until(domain.next_probe_at) <= PROBE_INTERVAL.total_seconds()
    for row in Delivery.objects.all():
        assert row.state == DeliveryState.PENDING
        assert _seconds_until(row.next_attempt_at) > PROBE_INTERVAL.total_seconds() - 5
    assert delivery.delivery_stats()["unreachable"][0]["host"] == host


def test_unreachable_domain_parks_deliveries_when_probe_not_due(local_member, fake_server):
    """Before its next probe an unreachable domain gets no request; due rows are parked until then."""
    fake_server.route("POST", "/inbox", status=202)
    probe_at = timezone.now() + timedelta(minutes=30)
    Domain.objects.create(host=fake_server.netloc, unreachable_since=timezone.now(), next_probe_at=probe_at)
    activity = _publish(local_member, [fake_server.url("/inbox")])
    deliver_activity_task(activity.pk)
    assert fake_server.requests == []
    row = Delivery.objects.get()
    assert (row.state, row.attempts, row.next_attempt_at) == (DeliveryState.PENDING, 0, probe_at)


def test_unreachable_domain_recovers_when_probe_succeeds(local_member, fake_server):
    """One probe goes out when due; its success clears the mark and every parked delivery is sent."""
    fake_server.route("POST", "/inbox", status=202)
    Domain.objects.create(
        host=fake_server.netloc,
        unreachable_since=timezone.now() - timedelta(hours=5),
        next_probe_at=timezone.now() - timedelta(seconds=1),
        consecutive_failures=30,
    )
    acts = [_publish(local_member, [fake_server.url("/inbox")]) for _ in range(3)]
    Delivery.objects.exclude(activity=acts[0]).update(next_attempt_at=timezone.now() + timedelta(minutes=40))
    deliver_activity_task(acts[0].pk)

    assert len(fake_server.requests) == 3
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}
    domain = Domain.objects.get()
    assert (domain.unreachable_since, domain.consecutive_failures, domain.next_probe_at) == (None, 0, None)


def test_retry_domain_makes_failed_due_when_operator_asks(local_member, fake_server):
    """``retry_domain`` reschedules failed and waiting deliveries now, clears the unreachable mark and sends them."""
    fake_server.route("POST", "/inbox", status=202)
    first = _publish(local_member, [fake_server.url("/inbox")])
    second = _publish(local_member, [fake_server.url("/inbox")])
    Delivery.objects.filter(activity=first).update(state=DeliveryState.FAILED, attempts=9)
    Delivery.objects.filter(activity=second).update(next_attempt_at=timezone.now() + timedelta(hours=3))
    Domain.objects.create(host=fake_server.netloc, unreachable_since=timezone.now(), consecutive_failures=12)
    stats = delivery.delivery_stats()
    assert stats["by_state"]["failed"] == 1 and stats["by_state"]["pending"] == 1
    assert stats["unreachable"][0]["pending"] == 1

    assert delivery.retry_domain(fake_server.netloc) == 2
    assert Domain.objects.get().unreachable_since is None
    deliver_domain_task(fake_server.netloc)
    assert len(fake_server.requests) == 2
    assert delivery.delivery_stats()["by_state"]["delivered"] == 2


def test_deliver_cancels_when_domain_blocked_after_publish(local_member, fake_server):
    """A domain blocked between publish and delivery gets nothing."""
    fake_server.route("POST", "/inbox", status=202)
    activity = _publish(local_member, [fake_server.url("/inbox")])
    Domain.objects.create(host="127.0.0.1", blocked=True)
    forget_blocks()
    deliver_activity_task(activity.pk)
    assert fake_server.requests == []
    assert Delivery.objects.get().state == DeliveryState.CANCELLED


def test_backoff_delay_follows_schedule_when_attempts_grow():
    """Each step is the documented delay ±10 %, and the schedule ends with None (give up) at about two days."""
    for n, seconds in enumerate(BACKOFF_SECONDS, start=1):
        delay = backoff_delay(n)
        assert delay is not None and seconds * 0.9 <= delay.total_seconds() <= seconds * 1.1
    assert backoff_delay(len(BACKOFF_SECONDS) + 1) is None
    assert 48 * 3600 <= sum(BACKOFF_SECONDS) <= 54 * 3600
    assert backoff_delay(1, retry_after=600).total_seconds() == 600


def test_parse_retry_after_accepts_only_sane_values_when_header_varies():
    """Seconds and HTTP dates are understood; negative, huge and garbage values are ignored."""
    now = timezone.now()
    assert parse_retry_after("120") == 120
    http_date = (now + timedelta(minutes=10)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 590 < parse_retry_after(http_date, now=now) <= 600
    for bad in (None, "", "-5", "soon", str(10 * 24 * 3600), "Thu, 01 Jan 1970 00:00:00 GMT"):
        assert parse_retry_after(bad, now=now) is None


def test_body_is_compact_json_when_sent(local_member, fake_server):
    """The body on the wire is the stored activity serialised as compact UTF-8 JSON."""
    fake_server.route("POST", "/inbox", status=202)
    n = next(_ids)
    body = {"id": f"http://county.test/activities/{n}", "type": "Create", "content": "你好"}
    activity = publish(body, actor=local_member, inboxes=[fake_server.url("/inbox")])
    deliver_activity_task(activity.pk)
    assert fake_server.requests[0].body == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
