"""What software a peer runs, from its NodeInfo, for choices that depend on it.

:func:`read_nodeinfo` reads a node's NodeInfo (``/.well-known/nodeinfo``, then the newest
schema it links on its own host). :func:`learn` records the software name in
``Domain.software`` (with ``software_checked_at``); the beat job :func:`sweep` learns it for
the hosts of our actors' followers that are unknown or were last checked more than
``RECHECK`` ago, a few per run, so a node that changes software is noticed within a week.

One choice depends on it today: the group announce forms (``groups.posts.announce``). FEP-1b12
servers (:data:`ANNOUNCED_CREATE`: ours, Lemmy and its kin) take ``Announce{Create}`` and
ignore a plain ``Announce`` of a post they have; microblogs (:data:`PLAIN_ANNOUNCE`:
Mastodon and its kin) cannot process an announced ``Create``. :func:`announce_forms` says
which forms an inbox needs: one for a known peer, both for an unknown one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from federation.hosts import host_of
from federation.models import Domain, Follow, FollowState
from federation.transport import get_transport

log = logging.getLogger(__name__)

ANNOUNCED_CREATE = frozenset({"redcloud", "lemmy", "mbin", "kbin", "piefed"})
PLAIN_ANNOUNCE = frozenset(
    {
        "mastodon", "hometown", "glitch-soc", "pleroma", "akkoma", "misskey", "sharkey", "firefish",
        "iceshrimp", "foundkey", "catodon", "gotosocial", "snac", "takahe",
    }
)  # fmt: skip
CREATE, PLAIN = "create", "plain"
RECHECK = timedelta(days=7)
SWEEP_LIMIT = 20  # hosts per sweep run (each costs up to two GETs)


def read_nodeinfo(base_url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """The NodeInfo document of the node at ``base_url`` (``scheme://host``), or ``{}`` when it
    has none or cannot be reached. Only documents on ``base_url``'s own host are read."""
    transport = get_transport()
    try:
        host = host_of(base_url)
        links = transport.get(
            f"{base_url}/.well-known/nodeinfo", headers={"Accept": "application/json"}, timeout=timeout
        )
        if links.status != 200:
            return {}
        listed = json.loads(links.body).get("links", [])
        hrefs = [link.get("href") for link in listed if isinstance(link, dict)]
        href = next((h for h in reversed(hrefs) if isinstance(h, str) and host_of(h) == host), None)
        if href is None:
            return {}
        response = transport.get(href, headers={"Accept": "application/json"}, timeout=timeout)
        if response.status != 200:
            return {}
        doc = json.loads(response.body)
    except Exception as exc:  # any failure means "no NodeInfo"
        log.info("no NodeInfo from %s: %s", base_url, exc)
        return {}
    return doc if isinstance(doc, dict) else {}


def software_name(doc: dict[str, Any]) -> str:
    """The lower-cased ``software.name`` of a NodeInfo document ("" when absent)."""
    software = doc.get("software")
    if not isinstance(software, dict):
        return ""
    return str(software.get("name") or "").strip().lower()[:100]


def learn(base_url: str) -> str:
    """Read the NodeInfo of ``base_url`` and record its software on the host's ``Domain`` row
    (kept as it was when the node cannot be read); returns what is recorded."""
    host = host_of(base_url)
    name = software_name(read_nodeinfo(base_url))
    domain, _ = Domain.objects.get_or_create(host=host)
    fields: dict[str, Any] = {"software_checked_at": timezone.now()}
    if name:
        fields["software"] = name
    Domain.objects.filter(pk=domain.pk).update(**fields)
    return name or domain.software


def _base_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@shared_task(name="federation.software.sweep", ignore_result=True)
def sweep(limit: int = SWEEP_LIMIT) -> int:
    """Beat job: learn the software of up to ``limit`` follower hosts not checked in
    ``RECHECK`` (never-checked first); returns how many were read."""
    stale = timezone.now() - RECHECK
    rows = (
        Follow.objects.filter(state=FollowState.ACCEPTED, target__local=True, follower__local=False)
        .values_list("follower__domain", "follower__inbox_url")
        .distinct()
    )
    inbox_of: dict[str, str] = {}
    for host, inbox in rows:
        if host and inbox:
            inbox_of.setdefault(host.lower(), inbox)
    if not inbox_of:
        return 0
    fresh = set(Domain.objects.filter(host__in=inbox_of, software_checked_at__gte=stale).values_list("host", flat=True))
    due = [h for h in inbox_of if h not in fresh]
    checked = dict(Domain.objects.filter(host__in=due).values_list("host", "software_checked_at"))
    due.sort(key=lambda h: (checked.get(h) is not None, checked.get(h) or stale))
    for host in due[:limit]:
        learn(_base_of(inbox_of[host]))
    return min(limit, len(due))


def announce_forms(inboxes: Iterable[str]) -> dict[str, frozenset[str]]:
    """For each inbox, the group announce forms it needs (:data:`CREATE`, :data:`PLAIN` or
    both), by its host's known software (module docstring)."""
    inboxes = list(inboxes)
    hosts: dict[str, str] = {}
    for url in inboxes:
        try:
            hosts[url] = host_of(url)
        except ValueError:
            hosts[url] = ""
    known = dict(Domain.objects.filter(~Q(software=""), host__in=set(hosts.values())).values_list("host", "software"))
    both = frozenset({CREATE, PLAIN})
    out: dict[str, frozenset[str]] = {}
    for url in inboxes:
        software = known.get(hosts[url], "")
        if software in ANNOUNCED_CREATE:
            out[url] = frozenset({CREATE})
        elif software in PLAIN_ANNOUNCE:
            out[url] = frozenset({PLAIN})
        else:
            out[url] = both
    return out
