"""Fake peer inboxes for the fan-out benchmarks (B5, B5f): one process, one listener per
"host" (distinct ports on 127.0.0.1), each an inbox that **verifies** the HTTP signature of
every POST with the sender's public key (``federation.signatures.parse_signature`` +
``verify_signature``) and answers ``202`` (or ``401`` when it does not verify).

A GET is answered with NodeInfo naming the software ``redcloud`` (the province's peers are
county nodes; the group learns it as its beat job would, ``federation.software``), 404 for
anything else. Per-port behaviour of the inbox can be changed at run time (B5f's faults):

- ``verify`` (default): parse and verify the signature, 202 or 401;
- ``503``: read the request, answer ``503`` at once;
- ``blackhole``: accept the TCP connection, read, never answer.

Every answered request is logged with the server's ``time.monotonic()`` (CLOCK_MONOTONIC is
system-wide on Linux, so the driver's timestamps compare with it), the port, the status and
the activity ``id`` of the body (the "tag"). The parent controls the process through one JSON
line per command on stdin and reads one JSON line per answer on stdout (:class:`InboxFarm`);
closing stdin (or :meth:`InboxFarm.stop`) ends it.

Standalone (what :class:`InboxFarm` runs): ``python -m bench.peers COUNT KEYFILE KEY_ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODES = ("verify", "503", "blackhole")
_STATUS_LINES = {202: b"202 Accepted", 401: b"401 Unauthorized", 503: b"503 Service Unavailable"}


@dataclass(frozen=True)
class Event:
    """One answered request: server monotonic time, port, HTTP status, body ``id``."""

    t: float
    port: int
    status: int
    tag: str


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Read one HTTP/1.1 request (head up to the blank line, then ``Content-Length`` bytes) from
    a keep-alive connection: the minimal parser every fake peer of the benchmarks uses."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:].strip())
    body = await reader.readexactly(length) if length else b""
    return head, body


def body_tag(body: bytes) -> str:
    """The ``id`` of a JSON activity body, or "" when there is none."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    return str(doc.get("id", "")) if isinstance(doc, dict) else ""


def check_request(head: bytes, body: bytes, port: int, public_key: Any, key_id: str) -> int:
    """Status a verifying inbox on 127.0.0.1:``port`` answers: 202 when the request's
    signature parses, covers this host and verifies with ``public_key`` under ``key_id``;
    401 otherwise."""
    from federation.signatures import SignatureError, parse_signature, verify_signature

    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _ = lines[0].split(" ", 2)
    except ValueError:
        return 401
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    try:
        signed = parse_signature(method, target, headers, body, expected_host=f"127.0.0.1:{port}")
        if signed.key_id != key_id:
            return 401
        verify_signature(signed, public_key)
    except SignatureError:
        return 401
    return 202


def nodeinfo_response(head: bytes, port: int) -> bytes:
    """The answer to a GET: NodeInfo saying the peer runs Redcloud (the province's county nodes
    do; ``federation.software`` reads it), 404 for any other path."""
    path = head.split(b" ", 2)[1]
    if path == b"/.well-known/nodeinfo":
        href = f"http://127.0.0.1:{port}/nodeinfo/2.1"
        rel = "http://nodeinfo.diaspora.software/ns/schema/2.1"
        doc: dict[str, Any] | None = {"links": [{"rel": rel, "href": href}]}
    elif path == b"/nodeinfo/2.1":
        doc = {"version": "2.1", "software": {"name": "redcloud", "version": "bench"}, "protocols": ["activitypub"]}
    else:
        doc = None
    if doc is None:
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    body = json.dumps(doc).encode()
    head_out = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head_out.encode() + body


async def _serve(count: int, key_file: str, key_id: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    public_key = load_pem_public_key(Path(key_file).read_bytes())
    modes: dict[int, str] = {}
    events: list[Event] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        try:
            while True:
                head, body = await read_request(reader)
                if head.startswith(b"GET "):
                    writer.write(nodeinfo_response(head, port))
                    continue
                mode = modes.get(port, "verify")
                if mode == "blackhole":
                    while await reader.read(65536):  # never answer; wait for the client to give up
                        pass
                    break
                status = 503 if mode == "503" else check_request(head, body, port, public_key, key_id)
                writer.write(b"HTTP/1.1 " + _STATUS_LINES[status] + b"\r\nContent-Length: 0\r\n\r\n")
                events.append(Event(time.monotonic(), port, status, body_tag(body)))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, "127.0.0.1", 0, backlog=64) for _ in range(count)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps({"ports": ports}), flush=True)

    def control() -> None:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["cmd"] == "modes":
                new = {int(p): m for p, m in cmd["modes"].items()}
                modes.clear()
                modes.update(new)
                reply: dict[str, Any] = {"ok": True}
            elif cmd["cmd"] == "events":
                since = int(cmd.get("since", 0))
                batch = events[since:]
                reply = {"events": [[e.t, e.port, e.status, e.tag] for e in batch], "next": since + len(batch)}
            else:
                reply = {"error": f"unknown command {cmd['cmd']!r}"}
            print(json.dumps(reply), flush=True)

    await asyncio.get_running_loop().run_in_executor(None, control)  # until the parent closes stdin


class InboxFarm:
    """The fake-inbox process seen from the parent: start, set modes, read events, stop."""

    def __init__(self, count: int, public_pem: str, key_id: str, work_dir: Path) -> None:
        key_file = work_dir / "farm-public-key.pem"
        key_file.write_text(public_pem)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.peers", str(count), str(key_file), key_id],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._lock = threading.Lock()
        self._next = 0
        self.events: list[Event] = []
        self.ports: list[int] = list(self._read(timeout=30)["ports"])

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not result or not result[0]:
            raise RuntimeError(f"fake-inbox process did not answer (exit code {self.proc.poll()})")
        return dict(json.loads(result[0]))

    def _call(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
            return self._read(timeout=10)

    def set_modes(self, modes: dict[int, str]) -> None:
        """Ports not named answer in ``verify`` mode."""
        bad = {m for m in modes.values() if m not in MODES}
        if bad:
            raise ValueError(f"unknown modes {bad}")
        self._call({"cmd": "modes", "modes": {str(p): m for p, m in modes.items()}})

    def poll(self) -> list[Event]:
        """Fetch the events logged since the last poll, append them to ``events``, return them."""
        reply = self._call({"cmd": "events", "since": self._next})
        self._next = int(reply["next"])
        new = [Event(float(t), int(p), int(s), str(tag)) for t, p, s, tag in reply["events"]]
        self.events += new
        return new

    def stop(self) -> None:
        """Stop the process (closing stdin ends it; its group is killed if it lingers)."""
        from bench.servers import stop

        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        stop(self.proc, timeout=5)

    def __enter__(self) -> InboxFarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def completion(events: list[Event], tags: set[str], ports: set[int], *, status: int = 202) -> float | None:
    """Server time at which every port in ``ports`` has answered ``status`` to every tag in
    ``tags`` (the last such first answer), or None while some are missing."""
    first: dict[tuple[int, str], float] = {}
    for e in events:
        if e.status == status and e.tag in tags and e.port in ports:
            key = (e.port, e.tag)
            if key not in first or e.t < first[key]:
                first[key] = e.t
    if len(first) < len(tags) * len(ports):
        return None
    return max(first.values())


def reached(events: list[Event], tags: set[str], ports: set[int], *, status: int = 202) -> float | None:
    """Server time at which every port in ``ports`` has answered ``status`` to at least one of
    ``tags`` (the post has reached every host), or None while some host has not."""
    first: dict[int, float] = {}
    for e in events:
        if e.status == status and e.tag in tags and e.port in ports:
            first[e.port] = min(e.t, first.get(e.port, e.t))
    if len(first) < len(ports):
        return None
    return max(first.values())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    asyncio.run(_serve(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
