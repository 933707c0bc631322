"""Statistics reports: this node's counts per day, sent up to the parent hub as a signed
``Create``/``Update{redcloud:StatisticsReport}`` by the instance actor; a hub stores its
children's reports and sums their latest totals with its own counts into its own report.

Wire format: ``FEDERATION.md`` ("Statistics reports"). Only aggregates leave the node, never a
member's name, dues or minutes. A report's object id is stable per node and period
(``<base>/hub/stats/<YYYY-MM-DD>``); the activity id carries a digest of the counts, so sending
unchanged counts again sends nothing and a replay is dropped by the inbox.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.dateparse import parse_date

from federation import registry
from federation.actors import base_url, get_instance_actor
from federation.hosts import normalise_host
from federation.inbound import Reject, same_origin
from federation.models import Actor, ActorType, OutboxActivity
from federation.outbox import publish
from federation.timescale import scaled
from federation.vocab import AS_CONTEXT, id_of, type_of
from groups.models import DuesRecord, Event, EventStatus, Group, Meeting
from microblog.models import PollVote, Post
from node import hub
from node.models import NodeRelation, RelationDirection, RelationState, StatsDirection, StatsReport

NS = "https://redcloud.example/ns#"
CONTEXT: list[Any] = [AS_CONTEXT, {"redcloud": NS}]
REPORT_TYPE = "redcloud:StatisticsReport"
PERIOD = timedelta(days=1)
ACTIVE_WINDOW = timedelta(days=30)
MAX_KEYS = 32  # kinds per breakdown a report may carry
MAX_COUNT = 10**12


# ----------------------------------------------------------------------------- counting


def empty_counts() -> dict[str, Any]:
    """A counts document with every field at zero."""
    return {
        "members": {"total": 0, "active": 0},
        "groups": {},
        "posts": 0,
        "postsInPeriod": 0,
        "votes": 0,
        "eventsHeld": 0,
        "meetings": {},
        "dues": {"memberMonths": 0, "paidInFull": 0, "compliance": None},
        "learningCredits": 0,
    }


def _bounds(period: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(period, time.min))
    return start, start + PERIOD


def _compliance(months: int, paid: int) -> float | None:
    return round(100.0 * paid / months, 1) if months else None


def own_counts(period: date) -> dict[str, Any]:
    """This node's own counts for ``period`` (a day): totals as of the end of the day, and what
    happened during it (``postsInPeriod``, ``eventsHeld``). Never includes children's counts."""
    start, end = _bounds(period)
    people = get_user_model().objects.filter(is_active=True, actor__isnull=False, date_joined__lt=end)
    posts = Post.objects.filter(local=True, reblog_of__isnull=True, published_at__lt=end).exclude(deleted_at__lt=end)
    dues = DuesRecord.objects.filter(month__lte=period.strftime("%Y-%m"))
    months = dues.count()
    paid = dues.filter(amount_paid__gte=F("amount_due")).count()
    events = Event.objects.filter(local=True).exclude(status=EventStatus.CANCELLED)
    held = events.filter(end_at__gte=start, end_at__lt=end).count()
    held += events.filter(end_at__isnull=True, start_at__gte=start, start_at__lt=end).count()
    return {
        "members": {
            "total": people.count(),
            "active": people.filter(last_login__gte=end - ACTIVE_WINDOW, last_login__lt=end).count(),
        },
        "groups": _by_kind(Group.objects.filter(created_at__lt=end)),
        "posts": posts.count(),
        "postsInPeriod": posts.filter(published_at__gte=start).count(),
        "votes": PollVote.objects.filter(voter__local=True, created_at__lt=end)
        .values("poll_id", "voter_id")
        .distinct()
        .count(),
        "eventsHeld": held,
        "meetings": _by_kind(Meeting.objects.filter(held_on__lte=period)),
        "dues": {"memberMonths": months, "paidInFull": paid, "compliance": _compliance(months, paid)},
        "learningCredits": registry.count("learningCredits"),
    }


def _by_kind(qs: Any) -> dict[str, int]:
    return {row["kind"]: row["n"] for row in qs.values("kind").annotate(n=Count("pk")).order_by("kind")}


def add_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The sum of two counts documents (breakdowns merged by kind, dues compliance recomputed)."""
    out = empty_counts()
    for doc in (a, b):
        out["members"]["total"] += doc["members"]["total"]
        out["members"]["active"] += doc["members"]["active"]
        for key in ("posts", "postsInPeriod", "votes", "eventsHeld", "learningCredits"):
            out[key] += doc[key]
        for key in ("groups", "meetings"):
            for kind, n in doc[key].items():
                out[key][kind] = out[key].get(kind, 0) + n
        out["dues"]["memberMonths"] += doc["dues"]["memberMonths"]
        out["dues"]["paidInFull"] += doc["dues"]["paidInFull"]
    out["dues"]["compliance"] = _compliance(out["dues"]["memberMonths"], out["dues"]["paidInFull"])
    return out


def clean_counts(data: Any) -> dict[str, Any]:
    """A received counts document in canonical form; raises ``ValueError`` when malformed
    (missing fields, negative or huge numbers, too many kinds)."""
    if not isinstance(data, dict):
        raise ValueError("counts must be an object")

    def number(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            raise ValueError(f"not a count: {value!r}")
        return value

    def breakdown(value: Any) -> dict[str, int]:
        if not isinstance(value, dict) or len(value) > MAX_KEYS:
            raise ValueError("a breakdown must be an object of at most 32 kinds")
        return {str(k)[:64]: number(n) for k, n in value.items()}

    members, dues = data.get("members"), data.get("dues")
    if not isinstance(members, dict) or not isinstance(dues, dict):
        raise ValueError("members and dues must be objects")
    out = {
        "members": {"total": number(members.get("total")), "active": number(members.get("active"))},
        "groups": breakdown(data.get("groups", {})),
        "meetings": breakdown(data.get("meetings", {})),
        "dues": {"memberMonths": number(dues.get("memberMonths")), "paidInFull": number(dues.get("paidInFull"))},
    }
    for key in ("posts", "postsInPeriod", "votes", "eventsHeld", "learningCredits"):
        out[key] = number(data.get(key, 0))
    out["dues"]["compliance"] = _compliance(out["dues"]["memberMonths"], out["dues"]["paidInFull"])
    return out


# ----------------------------------------------------------------------------- relations


def own_domain() -> str:
    """This node's domain in host normal form."""
    return normalise_host(str(settings.NODE_DOMAIN))


def child_relations() -> list[NodeRelation]:
    """Accepted child nodes (relay-only subscribers are not nodes and send no reports)."""
    return list(hub.children(include_relays=False))


def parent_inbox() -> str:
    """Where our reports go: the accepted parent's instance actor inbox; before the relation is
    accepted (or without one) the shared inbox of ``NODE_PARENT``; "" when we have no parent."""
    rel = (
        NodeRelation.objects.filter(direction=RelationDirection.PARENT, state=RelationState.ACCEPTED)
        .select_related("actor")
        .first()
    )
    if rel is not None:
        return rel.actor.inbox_url or rel.actor.shared_inbox_url
    parent = str(getattr(settings, "NODE_PARENT", "") or "")
    return f"{parent.rstrip('/')}/inbox" if parent else ""


def latest_child_reports(upto: date) -> list[StatsReport]:
    """Each child's latest received report for a period on or before ``upto``: of the accepted
    child relations when there are any, else of every node that reported."""
    received = StatsReport.objects.filter(direction=StatsDirection.RECEIVED, period__lte=upto)
    children = child_relations()
    if children:
        received = received.filter(node_domain__in=[r.domain for r in children])
    latest: dict[str, StatsReport] = {}
    for report in received.order_by("node_domain", "-period"):
        latest.setdefault(report.node_domain, report)
    return [latest[k] for k in sorted(latest)]


# ----------------------------------------------------------------------------- our report


def report_id(period: date) -> str:
    """The stable id of this node's report for ``period``."""
    return f"{base_url()}/hub/stats/{period.isoformat()}"


def node_identity() -> dict[str, Any]:
    """Who reports: domain, name, role, region code, software (as NodeInfo says), parent."""
    return {
        "domain": own_domain(),
        "name": str(settings.NODE_NAME),
        "role": str(settings.NODE_ROLE),
        "regionCode": str(settings.NODE_REGION_CODE),
        "software": {"name": "redcloud", "version": str(settings.NODE_VERSION)},
        "parent": str(getattr(settings, "NODE_PARENT", "") or "") or None,
    }


def build_report(period: date) -> dict[str, Any]:
    """This node's report object for ``period``: own counts, the children's latest reports it
    includes, and ``total`` = own + the sum of those children's totals."""
    own = own_counts(period)
    total = own
    children = []
    for report in latest_child_reports(period):
        total = add_counts(total, report.payload["redcloud:total"])
        node = report.payload.get("redcloud:node", {})
        children.append(
            {
                "domain": report.node_domain,
                "id": report.ap_id,
                "period": report.period.isoformat(),
                "name": node.get("name", ""),
                "role": node.get("role", ""),
                "regionCode": node.get("regionCode", ""),
                "members": report.payload["redcloud:own"]["members"]["total"],
                "children": report.payload.get("redcloud:children", []),
            }
        )
    return {
        "id": report_id(period),
        "type": REPORT_TYPE,
        "attributedTo": get_instance_actor().ap_id,
        "redcloud:period": period.isoformat(),
        "redcloud:node": node_identity(),
        "redcloud:own": own,
        "redcloud:total": total,
        "redcloud:children": children,
    }


def _digest(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def send_report(period: date | None = None) -> StatsReport:
    """Compute and store this node's report for ``period`` (default today) and, when the node has a
    parent, publish it signed by the instance actor to the parent's inbox. Idempotent: unchanged
    counts publish nothing new; changed counts go out as ``Update`` of the same object id."""
    period = period or timezone.localdate()
    obj = build_report(period)
    now = timezone.now()
    with transaction.atomic():
        row, _ = StatsReport.objects.update_or_create(
            node_domain=own_domain(),
            period=period,
            direction=StatsDirection.SENT,
            defaults={
                "ap_id": obj["id"],
                "payload": obj,
                "sender_ap_id": obj["attributedTo"],
                "signature_verified": True,
                "received_at": now,
            },
        )
        inbox = parent_inbox()
        if inbox:
            _publish(obj, inbox, now)
    return row


def _publish(obj: dict[str, Any], inbox: str, now: datetime) -> OutboxActivity:
    instance = get_instance_actor()
    rel = NodeRelation.objects.filter(direction=RelationDirection.PARENT, state=RelationState.ACCEPTED).first()
    to = [rel.actor.ap_id] if rel is not None else []
    digest = _digest({k: obj[k] for k in ("redcloud:own", "redcloud:total", "redcloud:children")})
    earlier = OutboxActivity.objects.filter(object_ap_id=obj["id"], actor=instance).exists()
    activity_id = f"{obj['id']}/activities/{digest}"
    sent = {**obj, "to": to, "published": now.isoformat()}
    activity = {
        "@context": CONTEXT,
        "id": activity_id,
        "type": "Update" if earlier else "Create",
        "actor": instance.ap_id,
        "to": to,
        "published": now.isoformat(),
        "object": sent,
    }
    return publish(activity, actor=instance, inboxes=[inbox], object_ap_id=obj["id"])


# ----------------------------------------------------------------------------- inbound


def handle_report(activity: dict[str, Any], actor: Actor) -> None:
    """Store a child's report (``Create``/``Update{redcloud:StatisticsReport}``): the sender must be
    a node's instance actor speaking for its own domain and an accepted child of ours; one row per
    node and period, replaced only by a report published later."""
    obj = activity.get("object")
    if not isinstance(obj, dict) or type_of(obj) != REPORT_TYPE:
        raise Reject("not a statistics report")
    if actor.type != ActorType.APPLICATION:
        raise Reject("statistics reports come from a node's instance actor")
    ident = id_of(obj)
    if not same_origin(ident, actor) or not same_origin(id_of(activity), actor):
        raise Reject("report id is not on the sender's host")
    node = obj.get("redcloud:node")
    if not isinstance(node, dict) or str(node.get("domain", "")).lower() != actor.domain.lower():
        raise Reject("report speaks for another node")
    relation = NodeRelation.objects.filter(
        actor=actor, direction=RelationDirection.CHILD, state=RelationState.ACCEPTED
    ).first()
    if relation is None:
        raise Reject("sender is not an accepted child of this node")
    period = parse_date(str(obj.get("redcloud:period", "")))
    if period is None:
        raise Reject("report without a valid period")
    try:
        own, total = clean_counts(obj.get("redcloud:own")), clean_counts(obj.get("redcloud:total"))
    except ValueError as exc:
        raise Reject(f"malformed counts: {exc}") from None
    payload = {
        "id": ident,
        "type": REPORT_TYPE,
        "published": str(activity.get("published") or obj.get("published") or ""),
        "redcloud:period": period.isoformat(),
        "redcloud:node": _clean_node(node),
        "redcloud:own": own,
        "redcloud:total": total,
        "redcloud:children": clean_children(obj.get("redcloud:children")),
    }
    now = timezone.now()
    existing = StatsReport.objects.filter(
        node_domain=actor.domain, period=period, direction=StatsDirection.RECEIVED
    ).first()
    if existing is None:
        StatsReport.objects.create(
            node_domain=actor.domain,
            period=period,
            direction=StatsDirection.RECEIVED,
            ap_id=ident or "",
            sender_ap_id=actor.ap_id,
            payload=payload,
            signature_verified=True,
            received_at=now,
        )
    elif payload["published"] >= str(existing.payload.get("published", "")):
        existing.payload, existing.received_at, existing.ap_id = payload, now, ident or ""
        existing.save(update_fields=["payload", "received_at", "ap_id"])
    NodeRelation.objects.filter(pk=relation.pk).update(last_seen_at=now)


def clean_children(entries: Any, depth: int = 0) -> list[dict[str, Any]]:
    """The ``redcloud:children`` list of a received report, kept to known fields (five levels,
    1000 entries a level at most)."""
    if not isinstance(entries, list) or depth > 4:
        return []
    out = []
    for e in entries[:1000]:
        if not isinstance(e, dict):
            continue
        members = e.get("members")
        out.append(
            {
                "domain": str(e.get("domain", ""))[:255],
                "id": str(e.get("id", ""))[:500],
                "period": str(e.get("period", ""))[:10],
                "name": str(e.get("name", ""))[:200],
                "role": str(e.get("role", ""))[:16],
                "regionCode": str(e.get("regionCode", ""))[:6],
                "members": members if isinstance(members, int) and not isinstance(members, bool) else None,
                "children": clean_children(e.get("children"), depth + 1),
            }
        )
    return out


def _clean_node(node: dict[str, Any]) -> dict[str, Any]:
    software = node.get("software") if isinstance(node.get("software"), dict) else {}
    return {
        "domain": str(node.get("domain", ""))[:255],
        "name": str(node.get("name", ""))[:200],
        "role": str(node.get("role", ""))[:16],
        "regionCode": str(node.get("regionCode", ""))[:6],
        "software": {"name": str(software.get("name", ""))[:50], "version": str(software.get("version", ""))[:50]},
        "parent": str(node.get("parent") or "")[:500] or None,
    }


registry.register_handler("Create", REPORT_TYPE)(handle_report)
registry.register_handler("Update", REPORT_TYPE)(handle_report)


# ----------------------------------------------------------------------------- beat


def report_interval() -> timedelta:
    """How often the beat sends a report: a day, scaled by ``FEDERATION_TIME_SCALE``."""
    return scaled(PERIOD)


@shared_task(name="node.stats.report", ignore_result=True)
def report_task() -> int:
    """Beat entry point: send today's report (idempotent); returns the stored row's id."""
    return send_report().pk
