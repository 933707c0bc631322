"""The hub's pages (``/hub/...``, mobile-first HTML) and client API (``/api/v1/hub/...``, JSON,
public): statistics dashboard with SVG charts and CSV export, directory of nodes (list and
tree), groups across the province, public events, the province-wide timeline, search."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from microblog.api import serializers
from microblog.api.auth import api_view
from microblog.web_display import decorate, older_url, viewer_of
from node import hub_directory as data
from node.charts import bar_chart, line_chart

# ----------------------------------------------------------------------------- HTML


def _kinds() -> list[str]:
    return list(getattr(settings, "GROUPS_KINDS", []))


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Statistics dashboard: totals, per-node bars, totals over time, breakdowns by kind."""
    d = data.dashboard()
    total = d["report"]["redcloud:total"]
    rows = d["rows"]
    labels = [p.strftime("%m-%d") for p, _c in d["history"]]
    charts = [
        bar_chart([(r["name"], r["counts"]["members"]["total"]) for r in rows], title=_("Members by node")),
        bar_chart([(r["name"], r["counts"]["posts"]) for r in rows], title=_("Posts by node")),
        line_chart(
            labels,
            {
                _("Members"): [c["members"]["total"] for _p, c in d["history"]],
                _("Active"): [c["members"]["active"] for _p, c in d["history"]],
                _("Posts"): [c["posts"] for _p, c in d["history"]],
            },
            title=_("Over time"),
        ),
        bar_chart(sorted(total["groups"].items()), title=_("Groups by kind")),
        bar_chart(sorted(total["meetings"].items()), title=_("Meetings by kind")),
        bar_chart(
            [(r["name"], r["counts"]["dues"]["compliance"] or 0) for r in rows], title=_("Dues paid in full (%)")
        ),
    ]
    return render(request, "node/hub/dashboard.html", {"total": total, "rows": rows, "charts": charts, "tab": "stats"})


@require_GET
def stats_csv(request: HttpRequest) -> HttpResponse:
    """All reports as CSV (UTF-8 with BOM so spreadsheet programs read Chinese names)."""
    response = HttpResponse("\ufeff" + data.stats_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="stats-{timezone.localdate().isoformat()}.csv"'
    return response


@require_GET
def nodes_page(request: HttpRequest) -> HttpResponse:
    """Directory of nodes: a list with health, and the tree."""
    return render(request, "node/hub/nodes.html", {"nodes": data.nodes(), "tree": data.node_tree(), "tab": "nodes"})


@require_GET
def groups_page(request: HttpRequest) -> HttpResponse:
    """Groups across the province, filterable by kind."""
    kind = request.GET.get("kind", "")
    return render(
        request,
        "node/hub/groups.html",
        {"groups": data.groups(kind=kind), "kind": kind, "kinds": _kinds(), "tab": "groups"},
    )


@require_GET
def events_page(request: HttpRequest) -> HttpResponse:
    """Calendar of public events, by day."""
    days = [(day, list(items)) for day, items in groupby(data.events(), key=lambda e: timezone.localdate(e.start_at))]
    return render(request, "node/hub/events.html", {"days": days, "tab": "events"})


@require_GET
def timeline_page(request: HttpRequest) -> HttpResponse:
    """The province-wide public timeline with node and group-kind filters."""
    viewer = viewer_of(request)
    domain, kind = request.GET.get("domain", ""), request.GET.get("kind", "")
    posts = data.timeline(viewer, domain=domain, kind=kind, max_id=request.GET.get("max_id"))
    context = {
        "entries": decorate(posts, viewer),
        "older_url": older_url(request, posts),
        "nodes": data.nodes(),
        "domain": domain,
        "kind": kind,
        "kinds": _kinds(),
        "tab": "timeline",
    }
    return render(request, "node/hub/timeline.html", context)


@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    """Search over public posts and groups (Chinese included)."""
    q = request.GET.get("q", "").strip()[:200]
    viewer = viewer_of(request)
    found = data.search(viewer, q) if q else {"statuses": [], "groups": []}
    context = {"q": q, "entries": decorate(found["statuses"], viewer), "groups": found["groups"], "tab": "search"}
    return render(request, "node/hub/search.html", context)


# ----------------------------------------------------------------------------- API


def _node_json(entry: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in entry.items() if k != "children"}
    for key in ("since", "last_seen_at"):
        out[key] = out[key].isoformat() if out.get(key) else None
    if "children" in entry:
        out["children"] = [_node_json(c) for c in entry["children"]]
    return out


@api_view(None)
def api_nodes(request: HttpRequest) -> list[dict[str, Any]]:
    """``GET /api/v1/hub/nodes``: this node and its children with health."""
    return [{k: v for k, v in _node_json(e).items() if k != "children"} for e in data.nodes()]


@api_view(None)
def api_tree(request: HttpRequest) -> dict[str, Any]:
    """``GET /api/v1/hub/nodes/tree``: the hierarchy below this node."""
    return _node_json(data.node_tree())


@api_view(None)
def api_stats(request: HttpRequest) -> dict[str, Any]:
    """``GET /api/v1/hub/stats``: today's report of this node (own, total, children) and history."""
    d = data.dashboard()
    return {
        "report": d["report"],
        "nodes": d["rows"],
        "history": [{"period": p.isoformat(), "total": c} for p, c in d["history"]],
    }


@api_view(None)
def api_groups(request: HttpRequest) -> list[dict[str, Any]]:
    """``GET /api/v1/hub/groups?kind=&q=``: groups across the province."""
    return data.groups(kind=request.GET.get("kind", ""), q=request.GET.get("q", "")[:200])


@api_view(None)
def api_events(request: HttpRequest) -> list[dict[str, Any]]:
    """``GET /api/v1/hub/events``: public events, soonest first."""
    return [
        {
            "id": e.ap_id,
            "url": e.url or e.ap_id,
            "name": e.name,
            "group": e.group_actor.handle,
            "start_time": e.start_at.isoformat(),
            "end_time": e.end_at.isoformat() if e.end_at else None,
            "location": e.location_name,
            "local": e.local,
        }
        for e in data.events()
    ]


@api_view(None)
def api_timeline(request: HttpRequest) -> list[dict[str, Any]]:
    """``GET /api/v1/hub/timeline?domain=&kind=&max_id=&limit=``: Mastodon Status entities."""
    viewer = getattr(request, "actor", None)
    posts = data.timeline(
        viewer,
        domain=request.GET.get("domain", ""),
        kind=request.GET.get("kind", ""),
        max_id=request.GET.get("max_id"),
        limit=int(request.GET.get("limit", "20") or 20) if request.GET.get("limit", "20").isdigit() else 20,
    )
    return serializers.statuses(posts, viewer=viewer)


@api_view(None)
def api_search(request: HttpRequest) -> dict[str, Any]:
    """``GET /api/v1/hub/search?q=``: public statuses and groups."""
    viewer = getattr(request, "actor", None)
    q = request.GET.get("q", "").strip()[:200]
    found = data.search(viewer, q) if q else {"statuses": [], "groups": []}
    return {"statuses": serializers.statuses(found["statuses"], viewer=viewer), "groups": found["groups"]}


urlpatterns = [
    path("hub/", dashboard, name="hub_dashboard"),
    path("hub/stats.csv", stats_csv, name="hub_stats_csv"),
    path("hub/nodes", nodes_page, name="hub_nodes"),
    path("hub/groups", groups_page, name="hub_groups"),
    path("hub/events", events_page, name="hub_events"),
    path("hub/timeline", timeline_page, name="hub_timeline"),
    path("hub/search", search_page, name="hub_search"),
    path("api/v1/hub/nodes", api_nodes, name="api_hub_nodes"),
    path("api/v1/hub/nodes/tree", api_tree, name="api_hub_tree"),
    path("api/v1/hub/stats", api_stats, name="api_hub_stats"),
    path("api/v1/hub/groups", api_groups, name="api_hub_groups"),
    path("api/v1/hub/events", api_events, name="api_hub_events"),
    path("api/v1/hub/timeline", api_timeline, name="api_hub_timeline"),
    path("api/v1/hub/search", api_search, name="api_hub_search"),
]
