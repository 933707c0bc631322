"""Groups across nodes over real HTTP: bob@county-b asks to join a county-a branch, the
secretary approves it from the CLI, and both nodes agree he is a member."""

from __future__ import annotations

import json

import pytest

from tests.e2e.helpers import actor_id, collection_items, get_json, handle, wait_until

pytestmark = pytest.mark.e2e


def test_remote_member_joins_branch_after_approval(devnet):
    """A Follow from county-b stays pending on county-a until `group approve`; then bob is an
    active member there and county-b's follow is accepted (the group is in bob's following)."""
    a, b = devnet.nodes["county-a"], devnet.nodes["county-b"]
    a.manage("member", "create", "gsec", "--name", "Secretary", "--random-password", check=True)
    b.manage("member", "create", "gbob", "--name", "Bob", "--random-password", check=True)
    created = a.manage("group", "create", "gbranch", "--name", "Branch", "--kind", "branch", "--secretary", "gsec")
    assert created.returncode == 0, created.stderr
    group, bob = actor_id(a, "gbranch"), actor_id(b, "gbob")

    status, doc = get_json(group)
    assert status == 200 and doc["type"] == "Group" and doc["manuallyApprovesFollowers"] is True
    assert doc["attributedTo"] == f"{group}/moderators"
    status, moderators = get_json(f"{group}/moderators")  # inline orderedItems, as Lemmy serves it
    assert status == 200 and moderators["orderedItems"] == [actor_id(a, "gsec")]

    lookup = b.manage("federation", "lookup", handle(a, "gbranch"), check=True)
    assert json.loads(lookup.stdout)["type"] == "Group"
    b.manage("federation", "follow", "gbob", handle(a, "gbranch"), check=True)

    bob_acct = handle(b, "gbob")
    wait_until(
        lambda: bob_acct in a.manage("group", "members", "gbranch", "--pending", check=True).stdout,
        what="bob's request to reach county-a",
    )
    assert bob not in collection_items(f"{group}/followers")  # pending: not a member yet
    assert group not in collection_items(f"{bob}/following")

    approved = a.manage("group", "approve", "gbranch", bob_acct)
    assert approved.returncode == 0, approved.stderr

    members = a.manage("group", "members", "gbranch", check=True).stdout
    assert f"{bob_acct}\tmember\tactive" in members
    wait_until(lambda: group in collection_items(f"{bob}/following"), what="Accept to reach county-b")
    # A members-only group shows the public how many members it has, not who they are.
    status, followers = get_json(f"{group}/followers")
    assert status == 200 and followers["totalItems"] == 2 and "first" not in followers
    assert collection_items(f"{group}/followers") == []


def test_group_name_taken_by_member_fails_clearly(devnet):
    """Creating a group with a member's name exits non-zero with a readable error."""
    a = devnet.nodes["county-a"]
    a.manage("member", "create", "gtaken", "--name", "Taken", "--random-password", check=True)
    result = a.manage("group", "create", "gtaken", "--secretary", "gtaken")
    assert result.returncode != 0
    # The node speaks its default language, zh-Hans ("... is already used on this node ...").
    assert "'gtaken'" in result.stderr and "已被使用" in result.stderr and "Traceback" not in result.stderr
