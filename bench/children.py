"""Simulated child nodes for the aggregation-lag benchmark (B13): one process, one listener
per child "host" (distinct ports on 127.0.0.1), each serving what a hub fetches from a relay
origin (a relay Announce embeds the child's own note, so the hub fetches only when one comes by
another way): ``GET /notes/<serial>`` answers a public ``Note`` with that id, attributed to the
child's member ``/users/u``, published now (``application/activity+json``). Any other path
answers 404. Documents are built from the path, so nothing has to be registered in advance.

The process prints ``{"ports": [...]}`` once listening and runs until its stdin closes
(:class:`ChildFarm` starts and stops it). Standalone: ``python -m bench.children COUNT``.
Also here, run inside the hub's environment: :func:`seed_hub` (the children as the hub knows
them) and :func:`relay_announce` (a child's signed relay ``Announce``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.peers import read_request

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS2 = "application/activity+json"
CONTENT = "<p>县里的公开帖子：乡村振兴工作会议在县委礼堂召开，与会同志围绕基层治理展开讨论。</p>" * 3


def base_url(port: int) -> str:
    """The base URL of the child listening on ``port``."""
    return f"http://127.0.0.1:{port}"


def author_id(port: int) -> str:
    """The member of child ``port`` who authors its notes."""
    return f"{base_url(port)}/users/u"


def instance_actor_id(port: int) -> str:
    """The instance actor of child ``port`` (signs its relay Announces)."""
    return f"{base_url(port)}/actor"


def note_url(port: int, serial: str) -> str:
    """The id of note ``serial`` at child ``port``."""
    return f"{base_url(port)}/notes/{serial}"


def note_doc(port: int, serial: str) -> dict[str, Any]:
    """The public Note ``serial`` of child ``port``, as its origin serves it."""
    ident = note_url(port, serial)
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": ident,
        "type": "Note",
        "attributedTo": author_id(port),
        "to": [PUBLIC],
        "cc": [f"{author_id(port)}/followers"],
        "content": CONTENT + f"<p>{serial}</p>",
        "published": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "url": ident,
        "tag": [],
        "attachment": [],
    }


# ----------------------------------------------------------------------------- the hub's view of them


def seed_hub(ports: list[int], pems: list[str]) -> None:
    """Every child as the hub knows an accepted child node: instance actor with its public
    key, the member who authors its notes (cached, fresh), an accepted relation."""
    from cryptography.hazmat.primitives import serialization
    from django.utils import timezone

    from federation.keys import load_private_key
    from federation.models import Actor, ActorType
    from node.models import NodeRelation, RelationDirection, RelationKind, RelationState

    now = timezone.now()
    instances, authors = [], []
    for port, pem in zip(ports, pems, strict=True):
        base, domain, inst = base_url(port), f"127.0.0.1:{port}", instance_actor_id(port)
        public = (
            load_private_key(pem)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        instances.append(
            Actor(
                ap_id=inst, type=ActorType.APPLICATION, username="instance.actor", domain=domain,
                inbox_url=f"{inst}/inbox", shared_inbox_url=f"{base}/inbox", followers_url=f"{inst}/followers",
                public_key_id=f"{inst}#main-key", public_key_pem=public, fetched_at=now,
            )
        )  # fmt: skip
        authors.append(
            Actor(
                ap_id=author_id(port), username="u", domain=domain, inbox_url=f"{author_id(port)}/inbox",
                shared_inbox_url=f"{base}/inbox", followers_url=f"{author_id(port)}/followers", fetched_at=now,
            )
        )  # fmt: skip
    Actor.objects.bulk_create(instances + authors)
    NodeRelation.objects.bulk_create(
        NodeRelation(
            actor=a, direction=RelationDirection.CHILD, state=RelationState.ACCEPTED, kind=RelationKind.NODE,
            domain=a.domain, base_url=base_url(int(a.domain.rsplit(":", 1)[1])), since=now, state_changed_at=now,
        )
        for a in Actor.objects.filter(ap_id__in=[a.ap_id for a in instances])
    )  # fmt: skip


def relay_announce(port: int, serial: str, hub: str, key: Any) -> tuple[str, dict[str, str], bytes]:
    """(note id, headers, body) of child ``port``'s signed relay Announce of note ``serial``,
    the note embedded as a Redcloud child relays its own members' posts
    (``node.hub_relay.announce_to_ap``); the hub takes it without fetching, as it is on the
    child's own host."""
    from federation.signatures import sign_request

    actor = instance_actor_id(port)
    note = note_url(port, serial)
    embedded = {k: v for k, v in note_doc(port, serial).items() if k != "@context"}
    body = json.dumps(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"http://127.0.0.1:{port}/relay/{serial}",
            "type": "Announce",
            "actor": actor,
            "object": embedded,
            "to": [PUBLIC],
            "cc": [f"{actor}/followers"],
        },
        separators=(",", ":"),
    ).encode()
    headers = sign_request(
        "POST", f"http://{hub}/inbox", {"Content-Type": AS2}, body, key_id=f"{actor}#main-key", private_key=key
    )
    return note, headers, body


# ----------------------------------------------------------------------------- the farm process


async def _serve(count: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        try:
            while True:
                head, _body = await read_request(reader)
                method, target = head.split(b" ", 2)[:2]
                path = target.decode("latin-1").split("?", 1)[0]
                if method == b"GET" and path.startswith("/notes/"):
                    body = json.dumps(note_doc(port, path[7:]), ensure_ascii=False).encode()
                    status, ctype = b"200 OK", b"application/activity+json"
                else:
                    body, status, ctype = b'{"error":"not found"}', b"404 Not Found", b"application/json"
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype
                    + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, "127.0.0.1", 0, backlog=64) for _ in range(count)]
    print(json.dumps({"ports": [s.sockets[0].getsockname()[1] for s in servers]}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes


class ChildFarm:
    """The simulated children seen from the parent: start (ports known), stop."""

    def __init__(self, count: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.children", str(count)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(30)
        if not line or not line[0]:
            self.stop()
            raise RuntimeError(f"child farm did not start (exit code {self.proc.poll()})")
        self.ports: list[int] = list(json.loads(line[0])["ports"])

    def stop(self) -> None:
        """Stop the process (closing stdin ends it; its group is killed if it lingers)."""
        from bench.servers import stop

        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        stop(self.proc, timeout=5)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    asyncio.run(_serve(int(sys.argv[1])))
