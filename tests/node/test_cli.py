"""Operator CLI: `member`, `node status|init|firstrun`, env files, and the devnet description."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone, translation
from oauth2_provider.models import AccessToken, Application

from federation.actors import INSTANCE_ACTOR_USERNAME, create_local_actor
from federation.models import Actor, Delivery, DeliveryState, Domain, InboxItem, OutboxActivity
from node.config import load
from node.devnet import DevnetError, parse_nodes
from node.devnet_node import region_codes
from node.envfile import EnvFileError, environ_with_env_file, parse_env_file
from node.management.commands.member import CLI_APPLICATION_NAME
from node.models import User
from node.status import broker_queue_depths


def run(*args: str) -> str:
    """Run a management command in English and return what it printed."""
    out = StringIO()
    with translation.override("en"):
        call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# -- member -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_member_create_stores_member_with_actor():
    """`member create` stores the member with its details and its federation actor."""
    output = run("member", "create", "alice", "--name", "Alice", "--real-name", "王丽", "--email", "a@example.org")
    user = User.objects.get(username="alice")
    assert user.display_name == "Alice" and user.real_name == "王丽" and user.email == "a@example.org"
    assert not user.is_staff and not user.has_usable_password()
    assert Actor.objects.filter(user=user, local=True, username="alice").exists()
    assert "alice" in output


@pytest.mark.django_db
def test_member_create_prints_random_password_once_when_asked():
    """`--random-password` prints a password that works for the new account."""
    output = run("member", "create", "bob", "--name", "Bob", "--random-password", "--staff")
    password = output.split("Password (shown once): ")[1].strip()
    user = User.objects.get(username="bob")
    assert user.is_staff and user.check_password(password)
    assert output.count(password) == 1


@pytest.mark.django_db
def test_member_create_refuses_taken_name_and_stores_nothing():
    """A second member with the same name is refused with a readable error; nothing more is stored."""
    run("member", "create", "carol", "--name", "Carol")
    with pytest.raises(CommandError, match="already taken"):
        run("member", "create", "carol", "--name", "Other Carol")
    assert User.objects.filter(username="carol").count() == 1
    assert User.objects.get(username="carol").display_name == "Carol"
    assert Actor.objects.filter(local=True, username="carol").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["Bad-Name", "admin", "x" * 31])
def test_member_create_refuses_bad_username_and_stores_nothing(username):
    """Malformed or reserved names give a CommandError and create no user and no actor."""
    with pytest.raises(CommandError, match="Cannot create member"):
        run("member", "create", username, "--name", "X")
    assert not User.objects.exists()
    assert not Actor.objects.filter(local=True).exclude(username=INSTANCE_ACTOR_USERNAME).exists()


@pytest.mark.django_db
def test_member_token_prints_only_a_stored_token_with_scopes():
    """`member token` prints one line: a bearer token stored for that member, with the scopes and a long expiry."""
    run("member", "create", "dave", "--name", "Dave")
    output = run("member", "token", "dave", "--scopes", "read write")
    assert output.endswith("\n") and output.count("\n") == 1
    token = output.strip()
    assert token and " " not in token
    stored = AccessToken.objects.get(token=token)
    assert stored.user.username == "dave"
    assert stored.scope == "read write"
    assert stored.is_valid(["read", "write"]) and not stored.allow_scopes(["follow"])
    assert stored.expires > timezone.now() + timedelta(days=365)
    assert stored.application.name == CLI_APPLICATION_NAME
    assert stored.application.client_type == Application.CLIENT_CONFIDENTIAL


@pytest.mark.django_db
def test_member_token_default_scopes_and_one_cli_application():
    """Without --scopes a token gets read write follow; every token shares one CLI application."""
    run("member", "create", "erin", "--name", "Erin")
    first = run("member", "token", "erin").strip()
    second = run("member", "token", "erin").strip()
    assert first != second
    assert AccessToken.objects.get(token=first).scope == "read write follow"
    assert Application.objects.filter(name=CLI_APPLICATION_NAME).count() == 1


@pytest.mark.django_db
def test_member_token_refuses_unknown_member_or_scope_and_stores_nothing():
    """An unknown member or scope gives a CommandError and stores no token."""
    with pytest.raises(CommandError, match="No member named 'ghost'"):
        run("member", "token", "ghost")
    run("member", "create", "fay", "--name", "Fay")
    with pytest.raises(CommandError, match="Unknown scope"):
        run("member", "token", "fay", "--scopes", "read superpowers")
    assert not AccessToken.objects.exists()


@pytest.mark.django_db
def test_member_list_json_lists_members():
    """`member list --json` gives username, display name, staff, active and joined for each member."""
    run("member", "create", "gina", "--name", "Gina", "--staff", "--random-password")
    run("member", "create", "hank", "--name", "Hank")
    rows = json.loads(run("member", "list", "--json"))
    assert [row["username"] for row in rows] == ["gina", "hank"]
    assert rows[0] == {**rows[0], "display_name": "Gina", "staff": True, "active": True}
    assert set(rows[1]) == {"username", "display_name", "staff", "active", "joined"}
    assert "hank" in run("member", "list")


# -- node status ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_node_status_json_reports_identity_health_and_queues(settings):
    """`node status --json` reports identity, database, broker and the durable queue counts."""
    actor = create_local_actor(username="ivan")
    InboxItem.objects.create(activity_id="https://remote.example/a/1", actor_id="https://remote.example/u", body="{}")
    activity = OutboxActivity.objects.create(ap_id=f"{actor.ap_id}/act/1", actor=actor, type="Create", body={})
    Delivery.objects.create(activity=activity, inbox_url="https://r.example/inbox", state=DeliveryState.FAILED)
    Domain.objects.create(host="down.example", unreachable_since=timezone.now())
    report = json.loads(run("node", "status", "--json"))
    assert report["node"] == {**report["node"], "domain": settings.NODE_DOMAIN, "role": settings.NODE_ROLE}
    assert {"name", "region_code", "parent", "version", "base_url"} <= set(report["node"])
    assert report["node"]["version"] == settings.NODE_VERSION
    assert report["database"]["ok"] and report["database"]["vendor"]
    assert "ok" in report["broker"]
    assert report["queues"]["durable"] == {
        "inbox_received": 1,
        "inbox_failed": 0,
        "deliveries_pending": 0,
        "deliveries_failed": 1,
        "domains_unreachable": 1,
    }
    assert set(report["queues"]["broker"]["depths"]) == set(settings.NODE_QUEUES)


def test_broker_depths_count_filesystem_message_files(settings, tmp_path):
    """With the file-system broker, depths count kombu's `<ms>_<uuid>.<queue>.msg` files per queue."""
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    for name in ("1_a.inbox.msg", "2_b.inbox.msg", "3_c.deliver.msg", "4_d.inboxes.msg", "notes.txt"):
        (tmp_path / name).write_text("{}")
    method, depths = broker_queue_depths()
    assert method == "files"
    assert depths == {"inbox": 2, "deliver": 1, "fanout": 0, "media": 0, "default": 0}


# -- node init --------------------------------------------------------------------------------


def test_node_init_writes_valid_env_file(tmp_path, settings):
    """`node init` with flags writes an env file (0600) that node.config.load accepts."""
    path = tmp_path / "node.env"
    run(
        "node", "init", "--no-input", "--env-file", str(path), "--domain", "County-A.example.org",
        "--name", "红云 county", "--role", "county", "--region", "530102", "--parent", "https://hub.example.org",
    )  # fmt: skip
    values = parse_env_file(path)
    assert values == {
        "NODE_DOMAIN": "County-A.example.org",
        "NODE_NAME": "红云 county",
        "NODE_ROLE": "county",
        "NODE_REGION_CODE": "530102",
        "NODE_PARENT": "https://hub.example.org",
    }
    config = load({**values, "SECRET_KEY": "k" * 50}, Path(settings.BASE_DIR))
    assert config.domain == "county-a.example.org" and config.parent == "https://hub.example.org"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_node_init_refuses_bad_role_and_writes_nothing(tmp_path):
    """A role that is not county/prefecture/province is refused with a message naming the roles."""
    path = tmp_path / "node.env"
    with pytest.raises(CommandError, match=r"NODE_ROLE='city' is not a role; use one of: county, prefecture"):
        run("node", "init", "--no-input", "--env-file", str(path), "--role", "city")
    assert not path.exists()


def test_node_init_keeps_existing_file_without_force(tmp_path):
    """An existing env file is never overwritten unless --force is given."""
    path = tmp_path / "node.env"
    path.write_text("NODE_ROLE=province\n")
    with pytest.raises(CommandError, match="--force"):
        run("node", "init", "--no-input", "--env-file", str(path), "--role", "county")
    assert path.read_text() == "NODE_ROLE=province\n"
    run("node", "init", "--no-input", "--env-file", str(path), "--role", "county", "--force")
    assert parse_env_file(path)["NODE_ROLE"] == "county"


def test_env_file_is_merged_under_the_real_environment(tmp_path):
    """Settings read NODE_ENV_FILE (or <var>/node.env) but a variable set in the environment wins."""
    (tmp_path / "node.env").write_text("# c\nexport NODE_ROLE=province\nNODE_NAME='Hub'\nNODE_DOMAIN=a.example\n")
    merged = environ_with_env_file({"NODE_VAR_DIR": str(tmp_path), "NODE_DOMAIN": "b.example"}, tmp_path)
    assert merged["NODE_ROLE"] == "province" and merged["NODE_NAME"] == "Hub"
    assert merged["NODE_DOMAIN"] == "b.example"
    assert environ_with_env_file({"X": "1"}, tmp_path / "nowhere") == {"X": "1"}
    with pytest.raises(EnvFileError, match="does not exist"):
        environ_with_env_file({"NODE_ENV_FILE": str(tmp_path / "missing.env")}, tmp_path)
    (tmp_path / "bad.env").write_text("NODE_ROLE province\n")
    with pytest.raises(EnvFileError, match=r"bad\.env:1"):
        environ_with_env_file({"NODE_ENV_FILE": str(tmp_path / "bad.env")}, tmp_path)


# -- node firstrun ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_firstrun_creates_instance_actor_and_one_operator_idempotently(settings, tmp_path):
    """firstrun creates the instance actor and one staff operator whose password file (0600) works; a rerun changes nothing."""
    settings.NODE_VAR_DIR = tmp_path
    first = run("node", "firstrun")
    password_file = tmp_path / "operator-password.txt"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().split("password: ")[1].strip()
    operator = User.objects.get(is_staff=True)
    assert operator.username == "operator" and operator.is_superuser and operator.check_password(password)
    assert password in first and "/accounts/login/" in first
    assert Actor.objects.filter(local=True, username=INSTANCE_ACTOR_USERNAME).count() == 1

    second = run("node", "firstrun")
    assert password not in second
    assert str(password_file) in second and "/accounts/login/" in second
    assert User.objects.count() == 1
    assert Actor.objects.filter(local=True, username=INSTANCE_ACTOR_USERNAME).count() == 1
    assert password_file.read_text().endswith(f"password: {password}\n")


@pytest.mark.django_db
def test_firstrun_creates_no_operator_when_staff_exists(settings, tmp_path):
    """When a staff account already exists, firstrun creates no account and writes no password file."""
    settings.NODE_VAR_DIR = tmp_path
    run("member", "create", "boss", "--name", "Boss", "--staff")
    run("node", "firstrun")
    assert list(User.objects.values_list("username", flat=True)) == ["boss"]
    assert not (tmp_path / "operator-password.txt").exists()


# -- devnet description -----------------------------------------------------------------------


def test_devnet_parse_nodes_gives_first_province_as_default_parent():
    """Nodes without a parent hang under the first province; the province has none; explicit parents stay."""
    nodes = parse_nodes("province:province,kunming:prefecture,county-a:county:kunming,county-b:county")
    assert [(n.name, n.role, n.parent) for n in nodes] == [
        ("province", "province", None),
        ("kunming", "prefecture", "province"),
        ("county-a", "county", "kunming"),
        ("county-b", "county", "province"),
    ]
    codes = region_codes(nodes)
    assert len(set(codes.values())) == 4 and all(len(c) == 6 and c.isdigit() for c in codes.values())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a:city", "role must be one of"),
        ("a:county:nowhere", "not another node"),
        ("p:province:x,x:county", "has no parent"),
        ("a:county,a:county", "unique"),
        ("A_B:county", "node names"),
        ("", "no nodes"),
    ],
)
def test_devnet_parse_nodes_refuses_bad_specs(spec, message):
    """A bad devnet description is refused with a message saying what is wrong."""
    with pytest.raises(DevnetError, match=message):
        parse_nodes(spec)
