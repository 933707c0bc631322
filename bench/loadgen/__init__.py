"""Load generation for B3: unique signed Create{Note} requests written to a file, and wrk
(``-t1 -c8``, Debian's ``wrk``) cycling through them with ``cycle.lua``.

Each request is what a remote Mastodon-like server would send to our shared inbox: the real
2.3 KB Mastodon Create{Note} fixture (``bench.payloads``) rewritten for sender ``i`` (actor,
activity and object ids on ``node-<i>.bench.test``) with a unique status number, so every
request is a real insert and never a replay; signed draft-cavage with that sender's key by
``federation.signatures.sign_request``; ``Date`` is the generation time (well inside the
verifier's skew window for the minutes a bench lasts).
"""

from __future__ import annotations

import multiprocessing
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.payloads import create_note_body
from bench.servers import sender_base

LUA = Path(__file__).resolve().parent / "cycle.lua"
AS2 = "application/activity+json"
ORIGINAL_ACTOR = "https://mastodon.madrid/users/felix"
ORIGINAL_PROFILE = "https://mastodon.madrid/@felix"
ORIGINAL_STATUS = "107224289116410645"

_keys: list[Any] = []  # parsed private keys; set before forking the signing pool


def activity_body(sender: int, serial: int) -> bytes:
    """The fixture Create{Note} as sent by sender ``sender``, with unique status ``serial``."""
    text = create_note_body().decode()
    host = f"https://node-{sender}.bench.test"
    text = text.replace(ORIGINAL_ACTOR, sender_base(sender)).replace(ORIGINAL_PROFILE, f"{host}/@u{sender}")
    return text.replace(ORIGINAL_STATUS, f"{serial:018d}").encode()


def request_line(domain: str, sender: int, serial: int, key: Any) -> str:
    """One request in ``cycle.lua``'s format: path, headers, body, tab-separated."""
    from federation.signatures import sign_request

    body = activity_body(sender, serial)
    base = sender_base(sender)
    headers = sign_request(
        "POST",
        f"http://{domain}/inbox",
        {"Content-Type": AS2, "User-Agent": f"http.rb/5.1.1 (Mastodon/4.3.0; +https://node-{sender}.bench.test/)"},
        body,
        key_id=f"{base}#main-key",
        private_key=key,
    )
    fields = ["/inbox", *(f"{name}: {value}" for name, value in headers.items()), body.decode()]
    line = "\t".join(fields)
    if "\n" in line or "\t\t" in line:
        raise ValueError("a request field contains a tab or newline")
    return line


def _write_chunk(args: tuple[str, int, int, str]) -> int:
    domain, start, count, path = args
    with open(path, "w", encoding="utf-8") as out:
        for serial in range(start, start + count):
            sender = serial % len(_keys)
            out.write(request_line(domain, sender, serial, _keys[sender]) + "\n")
    return count


def load_keys(pems: list[str]) -> None:
    """Parse the senders' private keys once (our own fresh keys: validation skipped)."""
    from cryptography.hazmat.primitives import serialization

    _keys[:] = [
        serialization.load_pem_private_key(p.encode(), password=None, unsafe_skip_rsa_key_validation=True) for p in pems
    ]


def write_requests(path: Path, domain: str, start: int, count: int, processes: int = 2) -> None:
    """Write ``count`` signed requests with serials ``start..start+count-1`` to ``path``,
    signing in ``processes`` forked processes (``load_keys`` first)."""
    if not _keys:
        raise RuntimeError("call load_keys() first")
    step = -(-count // processes)
    jobs = [(domain, start + i * step, min(step, count - i * step), f"{path}.{i}") for i in range(processes)]
    jobs = [j for j in jobs if j[2] > 0]
    if len(jobs) == 1:
        _write_chunk(jobs[0])
    else:
        with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            pool.map(_write_chunk, jobs)
    with open(path, "wb") as out:
        for job in jobs:
            with open(job[3], "rb") as chunk:
                shutil.copyfileobj(chunk, out)
            Path(job[3]).unlink()


@dataclass
class WrkResult:
    """What one wrk run reported (from ``cycle.lua``'s ``done``)."""

    duration_s: float
    requests: int  # completed responses
    sent: int  # requests handed to the connections (some may be in flight at the end)
    wrapped: int  # times the request list wrapped around (replays!)
    errors: dict[str, int]
    percentiles_ms: dict[str, float]
    mean_ms: float
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        """Responses with status 202."""
        return self.statuses.get(202, 0)

    @property
    def rate(self) -> float:
        """202 responses per second."""
        return self.accepted / self.duration_s


def parse_wrk(output: str) -> WrkResult:
    """Parse the ``BENCH ...`` lines that ``cycle.lua`` prints."""
    values: dict[str, list[str]] = {}
    statuses: dict[int, int] = {}
    for line in output.splitlines():
        if not line.startswith("BENCH "):
            continue
        key, *rest = line[6:].split()
        if key == "status":
            statuses[int(rest[0])] = statuses.get(int(rest[0]), 0) + int(rest[1])
        else:
            values[key] = rest
    if "duration_us" not in values:
        raise ValueError(f"no wrk results in output: {output[-500:]!r}")
    errors = dict(zip(("connect", "read", "write", "status", "timeout"), map(int, values["errors"]), strict=True))
    pct = {k: int(v[0]) / 1000 for k, v in values.items() if re.fullmatch(r"p[\d.]+", k)}
    return WrkResult(
        duration_s=int(values["duration_us"][0]) / 1e6,
        requests=int(values["requests"][0]),
        sent=int(values["sent"][0]),
        wrapped=int(values["wrapped"][0]),
        errors=errors,
        percentiles_ms=pct,
        mean_ms=float(values["mean_us"][0]) / 1000,
        statuses=statuses,
    )


def wrk_binary() -> str:
    """Path of wrk; raises with the install hint when missing."""
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    return found


def run_wrk(port: int, requests_file: Path, duration: float, connections: int = 8, threads: int = 1) -> WrkResult:
    """Run wrk against 127.0.0.1:``port`` for ``duration`` seconds, cycling ``requests_file``."""
    cmd = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
    cmd += ["--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{port}/inbox", "--", str(requests_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True)
    return parse_wrk(out.stdout)
