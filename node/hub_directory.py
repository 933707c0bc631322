"""What the hub's pages and API show, as plain data: the directory of nodes (list and tree, with
health), groups across the province, public events, the filtered province-wide timeline,
search over posts and groups, and the statistics dashboard's tables and CSV.

Only public data: public posts, public events, groups' public profiles, aggregate counts.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from federation.models import Actor, ActorType
from groups.models import Event, EventStatus, EventVisibility, Group, MembershipState
from microblog import search as mb_search
from microblog import services, timelines
from microblog.models import Post, Visibility
from node import hub
from node.hub_health import children_health
from node.models import StatsDirection, StatsReport
from node.stats import build_report, latest_child_reports, own_domain

HISTORY_DAYS = 30


# ----------------------------------------------------------------------------- nodes


def _own_entry(report: dict[str, Any]) -> dict[str, Any]:
    node = report["redcloud:node"]
    return {
        "domain": node["domain"],
        "name": node["name"],
        "role": node["role"],
        "region_code": node["regionCode"],
        "version": node["software"]["version"],
        "members": report["redcloud:own"]["members"]["total"],
        "healthy": True,
        "reasons": [],
        "since": None,
        "last_seen_at": timezone.now(),
        "failing_deliveries": 0,
        "self": True,
        "children": [],
    }


def nodes(today: date | None = None) -> list[dict[str, Any]]:
    """This node and every accepted child, with identity (from the child's relation and latest
    report), members, last seen and health. This node comes first."""
    today = today or timezone.localdate()
    report = build_report(today)
    out = [_own_entry(report)]
    reports = {r.node_domain: r for r in latest_child_reports(today)}
    for health in children_health():
        rel = hub.find_child(health.domain)
        row = reports.get(health.domain)
        node = row.payload.get("redcloud:node", {}) if row else {}
        out.append(
            {
                "domain": health.domain,
                "name": node.get("name") or (rel.node_name if rel else "") or health.domain,
                "role": node.get("role") or (rel.node_role if rel else ""),
                "region_code": node.get("regionCode") or (rel.region_code if rel else ""),
                "version": (node.get("software") or {}).get("version") or (rel.software_version if rel else ""),
                "members": row.payload["redcloud:own"]["members"]["total"] if row else None,
                "healthy": health.healthy,
                "reasons": health.reasons,
                "since": health.since,
                "last_seen_at": health.last_seen_at,
                "failing_deliveries": health.failing_deliveries,
                "self": False,
                "children": _grandchildren(row.payload.get("redcloud:children", []) if row else []),
            }
        )
    return out


def _grandchildren(entries: list[Any], depth: int = 0) -> list[dict[str, Any]]:
    if depth > 4:
        return []
    return [
        {
            "domain": str(e.get("domain", "")),
            "name": str(e.get("name", "") or e.get("domain", "")),
            "role": str(e.get("role", "")),
            "region_code": str(e.get("regionCode", "")),
            "members": e.get("members"),
            "children": _grandchildren(e.get("children", []), depth + 1),
        }
        for e in entries
        if isinstance(e, dict)
    ]


def node_tree(today: date | None = None) -> dict[str, Any]:
    """This node as the root, its children below, their own children (as their reports list
    them) below those."""
    entries = nodes(today)
    root = dict(entries[0])
    root["children"] = entries[1:]
    return root


def subtree_domains(domain: str) -> set[str]:
    """``domain`` and every node below it as far as this hub knows (for the prefecture filter)."""
    found = {domain}

    def walk(entry: dict[str, Any], inside: bool) -> None:
        inside = inside or entry.get("domain") == domain
        if inside:
            found.add(str(entry.get("domain")))
        for child in entry.get("children", []):
            walk(child, inside)

    walk(node_tree(), False)
    return found


# ----------------------------------------------------------------------------- groups, events


def groups(*, kind: str = "", q: str = "", limit: int = 200) -> list[dict[str, Any]]:
    """Groups across the province: this node's groups and the remote Group actors we know,
    optionally of one ``kind`` or matching ``q`` (name, handle or summary; Chinese works)."""
    out: list[dict[str, Any]] = []
    local = Group.objects.select_related("actor").annotate(
        n=Count("memberships", filter=Q(memberships__state=MembershipState.ACTIVE))
    )
    remote = Actor.objects.filter(type=ActorType.GROUP, local=False, suspended=False)
    if kind:
        local = local.filter(kind=kind)
        remote = remote.filter(data__contains={"redcloud:kind": kind}) if _json_contains() else remote.none()
    if q:
        match = Q(username__icontains=q) | Q(name__icontains=q) | Q(summary__icontains=q)
        local = local.filter(
            Q(actor__username__icontains=q) | Q(actor__name__icontains=q) | Q(description__icontains=q)
        )
        remote = remote.filter(match)
    for g in local.order_by("actor__username")[:limit]:
        out.append(_group_entry(g.actor, g.kind, True, g.n))
    for a in remote.order_by("domain", "username")[: max(0, limit - len(out))]:
        out.append(_group_entry(a, str((a.data or {}).get("redcloud:kind", "")), False, None))
    return out


def _json_contains() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def _group_entry(actor: Actor, kind: str, local: bool, members: int | None) -> dict[str, Any]:
    return {
        "name": actor.name or actor.username,
        "handle": actor.handle,
        "url": actor.url or actor.ap_id,
        "kind": kind,
        "domain": actor.domain,
        "local": local,
        "members": members,
        "summary": actor.summary,
    }


def events(*, days_back: int = 1, limit: int = 200) -> QuerySet[Event]:
    """Public events (ours and remote groups') from ``days_back`` days ago on, soonest first."""
    since = timezone.now() - timedelta(days=days_back)
    return (
        Event.objects.filter(visibility=EventVisibility.PUBLIC, start_at__gte=since)
        .exclude(status=EventStatus.CANCELLED)
        .select_related("group_actor")
        .order_by("start_at")[:limit]
    )


# ----------------------------------------------------------------------------- timeline, search


def timeline(
    viewer: Actor | None, *, domain: str = "", kind: str = "", max_id: str | None = None, limit: int = 20
) -> list[Post]:
    """The province-wide public timeline (public posts of every node we know, relayed ones
    included), optionally from one node and the nodes below it (``domain``: a county, or a
    prefecture with its counties) or from groups of one ``kind``."""
    if not domain and not kind:
        return timelines.public(viewer, max_id=max_id, limit=limit)
    qs = services.visible_posts(viewer).filter(
        visibility=Visibility.PUBLIC, reblog_of__isnull=True, deleted_at__isnull=True
    )
    if domain:
        qs = qs.filter(author__domain__in=subtree_domains(domain))
    if kind:
        qs = qs.filter(audience__group__kind=kind)
    return timelines.paginate_queryset(
        qs.select_related("author"), max_id=max_id, since_id=None, min_id=None, limit=timelines.clamp_limit(limit)
    )


def search(viewer: Actor | None, q: str, *, limit: int = 20) -> dict[str, Any]:
    """Public posts (substring search, Chinese included) and groups matching ``q``."""
    found = mb_search.search(viewer, q, type="statuses", limit=limit)
    posts = [p for p in found["statuses"] if p.visibility == Visibility.PUBLIC]
    return {"statuses": posts, "groups": groups(q=q, limit=limit) if q.strip() else []}


# ----------------------------------------------------------------------------- statistics


def dashboard(today: date | None = None) -> dict[str, Any]:
    """The dashboard's data: this node's live report, one row per node (own counts) and this
    node's totals over the last days (from its stored reports, today live)."""
    today = today or timezone.localdate()
    current = build_report(today)
    rows = [{"domain": own_domain(), "name": str(settings.NODE_NAME), "counts": current["redcloud:own"]}]
    for report in latest_child_reports(today):
        node = report.payload.get("redcloud:node", {})
        rows.append({"domain": report.node_domain, "name": node.get("name") or report.node_domain,
                     "counts": report.payload["redcloud:own"]})  # fmt: skip
    stored = StatsReport.objects.filter(
        direction=StatsDirection.SENT, node_domain=own_domain(), period__gte=today - timedelta(days=HISTORY_DAYS)
    ).order_by("period")
    history = {r.period: r.payload["redcloud:total"] for r in stored}
    history[today] = current["redcloud:total"]
    return {"report": current, "rows": rows, "history": sorted(history.items())}


CSV_FIELDS = (
    "period", "domain", "name", "scope", "members_total", "members_active", "groups", "posts",
    "posts_in_period", "votes", "events_held", "meetings", "dues_member_months", "dues_paid_in_full",
    "dues_compliance_percent", "learning_credits",
)  # fmt: skip


def _csv_row(period: str, domain: str, name: str, scope: str, c: dict[str, Any]) -> list[Any]:
    compliance = c["dues"].get("compliance")
    return [
        period, domain, name, scope, c["members"]["total"], c["members"]["active"], sum(c["groups"].values()),
        c["posts"], c["postsInPeriod"], c["votes"], c["eventsHeld"], sum(c["meetings"].values()),
        c["dues"]["memberMonths"], c["dues"]["paidInFull"], "" if compliance is None else compliance,
        c["learningCredits"],
    ]  # fmt: skip


def stats_csv(today: date | None = None) -> str:
    """Every stored report (ours and the children's, own and total counts) plus today's live
    one, as CSV with a header row, newest period first."""
    today = today or timezone.localdate()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    live = build_report(today)
    name = str(settings.NODE_NAME)
    for scope in ("own", "total"):
        writer.writerow(_csv_row(today.isoformat(), own_domain(), name, scope, live[f"redcloud:{scope}"]))
    reports = StatsReport.objects.exclude(direction=StatsDirection.SENT, period=today).order_by(
        "-period", "node_domain"
    )
    for r in reports[:5000]:
        node_name = r.payload.get("redcloud:node", {}).get("name", "")
        for scope in ("own", "total"):
            writer.writerow(
                _csv_row(r.period.isoformat(), r.node_domain, node_name, scope, r.payload[f"redcloud:{scope}"])
            )
    return out.getvalue()
