"""Follows across nodes over real HTTP: WebFinger, signed Follow, Accept, collections, Undo."""

from __future__ import annotations

import json

import pytest

from tests.e2e.helpers import actor_id, collection_items, handle, wait_until

pytestmark = pytest.mark.e2e


def test_follow_across_nodes_is_accepted_and_undone(devnet):
    """alice@county-a finds bob@county-b by WebFinger and follows him; both collections show it; undo clears both."""
    a, b = devnet.nodes["county-a"], devnet.nodes["county-b"]
    a.manage("member", "create", "alice", "--name", "Alice", "--random-password", check=True)
    b.manage("member", "create", "bob", "--name", "Bob", "--random-password", check=True)
    alice, bob = actor_id(a, "alice"), actor_id(b, "bob")

    lookup = a.manage("federation", "lookup", handle(b, "bob"), check=True)
    assert json.loads(lookup.stdout)["id"] == bob

    a.manage("federation", "follow", "alice", handle(b, "bob"), check=True)
    wait_until(lambda: alice in collection_items(f"{bob}/followers"), what="bob's followers to list alice")
    wait_until(lambda: bob in collection_items(f"{alice}/following"), what="alice's following to list bob (Accept)")

    a.manage("federation", "unfollow", "alice", handle(b, "bob"), check=True)
    assert collection_items(f"{alice}/following") == []
    wait_until(lambda: alice not in collection_items(f"{bob}/followers"), what="Undo to reach county-b")


def test_lookup_of_unknown_remote_account_fails_clearly(devnet):
    """Looking up an account that does not exist on the other node exits non-zero with a readable error."""
    a, b = devnet.nodes["county-a"], devnet.nodes["county-b"]
    result = a.manage("federation", "lookup", handle(b, "nobody"))
    assert result.returncode != 0
    assert "nobody" in result.stderr and "Traceback" not in result.stderr
