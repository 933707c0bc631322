"""Issue 6 acceptance on devnet: counties join the province hub; a public post on county-a appears
on the province's public timeline exactly once, a followers-only post never does."""

from __future__ import annotations

import time

import pytest

from tests.e2e.mastodon_helpers import client, ensure_member, poll_for

pytestmark = pytest.mark.e2e


def _join(county, province) -> None:
    """Run ``node join-hub`` on ``county`` (twice: idempotent) and wait for the accepted relation."""
    for _ in range(2):
        county.manage("node", "join-hub", "--parent", province.base_url, check=True)
    poll_for(
        lambda: "parent" in (out := county.manage("node", "hub-list", check=True).stdout) and "accepted" in out,
        f"{county.name} accepted by the province",
        timeout=60,
    )


def test_public_post_reaches_province_once_followers_only_never(devnet):
    """Relay: county-a's public post is on the province's public timeline exactly once; a followers-only one never."""
    province, county_a, county_b = (devnet.nodes[n] for n in ("province", "county-a", "county-b"))
    _join(county_a, province)
    _join(county_b, province)
    listing = province.manage("node", "hub-list", check=True).stdout
    assert listing.count("child") == 2 and "accepted" in listing

    api = client(county_a, ensure_member(county_a, "hubposter_a"))
    marker = f"hub-relay-{time.time_ns()}"
    public = api.status_post(f"全省可见 {marker} public", visibility="public")
    api.status_post(f"仅关注者 {marker} private", visibility="private")

    watcher = client(province, ensure_member(province, "hubwatcher_p"))

    def seen() -> list:
        return [s for s in watcher.timeline_public(limit=40) if marker in s.content]

    found = poll_for(lambda: seen() or None, "the relayed post on the province timeline", timeout=90)
    time.sleep(3)  # room for a duplicate or the private post to arrive, if either wrongly would
    found = seen()
    assert len(found) == 1, [s.content for s in found]
    assert "public" in found[0].content and found[0].uri == public.uri
    assert all("private" not in s.content for s in found)
