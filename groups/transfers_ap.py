"""Transfers on the wire: the membership record a transfer carries and the ``Offer`` that
carries it (``redcloud:`` terms of the namespace in ``federation.vocab``). The state machine and
the services are in ``groups/transfers.py``; inbound handlers in ``groups/transfers_inbound.py``.
"""

from __future__ import annotations

from typing import Any

from federation.models import Actor
from federation.vocab import CONTEXT
from groups.dues import paid_up_to
from groups.models import Membership, Transfer

RECORD_TYPE = "redcloud:MembershipRecord"
NS = "redcloud:"


def membership_record(membership: Membership) -> dict[str, Any]:
    """What a transfer carries: join date, roles held (current first), real-name verification,
    dues paid up to, and the membership's history (events with their dates and roles)."""
    roles = [membership.role]
    for entry in membership.history:
        role = entry.get("role") if isinstance(entry, dict) else None
        if isinstance(role, str) and role not in roles:
            roles.append(role)
    history = [
        {k: v for k, v in entry.items() if k in ("event", "at", "role", "group", "from", "to")}
        for entry in membership.history
        if isinstance(entry, dict)
    ]
    return {
        "group": membership.group.actor.ap_id,
        "joinedAt": membership.joined_at.isoformat() if membership.joined_at else None,
        "roles": roles,
        "realNameVerified": bool(membership.real_name_verified),
        "duesPaidUpTo": paid_up_to(membership.group, membership.actor) or None,
        "history": history,
    }


def offer_to_ap(transfer: Transfer) -> dict[str, Any]:
    """The ``Offer`` X sends Y: ``redcloud:`` terms of the namespace in ``federation.vocab``."""
    record = transfer.record
    return {
        "@context": CONTEXT,
        "id": transfer.offer_ap_id,
        "type": "Offer",
        "actor": transfer.source.ap_id,
        "to": [transfer.target.ap_id],
        "target": transfer.target.ap_id,
        "object": {
            "id": f"{transfer.offer_ap_id}#record",
            "type": RECORD_TYPE,
            "attributedTo": transfer.source.ap_id,
            f"{NS}member": transfer.member.ap_id,
            f"{NS}joinedAt": record.get("joinedAt"),
            f"{NS}roles": record.get("roles", []),
            f"{NS}realNameVerified": bool(record.get("realNameVerified")),
            f"{NS}duesPaidUpTo": record.get("duesPaidUpTo"),
            f"{NS}history": record.get("history", []),
        },
        "published": transfer.state_changed_at.isoformat(),
    }


def ap_to_record(obj: dict[str, Any], source: Actor) -> dict[str, Any]:
    """The membership record of an inbound Offer's object (tolerant of missing fields)."""

    def get(name: str) -> Any:
        return obj.get(f"{NS}{name}", obj.get(name))

    roles = [str(r)[:32] for r in (get("roles") or []) if isinstance(r, str)][:20]
    history = [h for h in (get("history") or []) if isinstance(h, dict)][:200]
    dues = get("duesPaidUpTo")
    return {
        "group": source.ap_id,
        "joinedAt": get("joinedAt") if isinstance(get("joinedAt"), str) else None,
        "roles": roles,
        "realNameVerified": get("realNameVerified") is True,
        "duesPaidUpTo": dues if isinstance(dues, str) else None,
        "history": [{k: str(v)[:500] for k, v in h.items()} for h in history],
    }
