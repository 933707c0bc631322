"""Account endpoints: ``/api/v1/accounts/...`` (verify and update credentials, lookup, show,
statuses, followers, following, follow, unfollow, relationships, search)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest

from federation import follows as follow_service
from federation.hosts import normalise_host
from federation.lookup import ActorNotFound, resolve_handle
from federation.models import Actor, ActorBlock, Follow, FollowState
from microblog import profiles, timelines
from microblog import search as search_module
from microblog.api import account_serializers, serializers
from microblog.api.auth import api_view, param_bool, param_int, param_list, param_str
from microblog.api.errors import Forbidden, NotFound, ValidationFailed, json_response
from microblog.api.pagination import link_header, page_params, paginate

ACCOUNT_LIST_DEFAULT = 40  # Mastodon's page size for account lists
ACCOUNT_LIST_MAX = 80


def get_account(account_id: int | str) -> Actor:
    """The actor with this API id (raises ``Actor.DoesNotExist`` -> 404)."""
    return Actor.objects.select_related("user").get(pk=int(account_id))


def _own_domain() -> str:
    return normalise_host(str(settings.NODE_DOMAIN))


def find_by_acct(value: str) -> Actor | None:
    """A known actor by ``user`` (local) or ``user@domain``; no network."""
    value = value.strip().lstrip("@")
    if value.lower().startswith("acct:"):
        value = value[5:]
    user, _, domain = value.partition("@")
    if not user:
        return None
    if not domain or normalise_host(domain) == _own_domain():
        return Actor.objects.select_related("user").filter(local=True, username=user.lower()).first()
    return (
        Actor.objects.select_related("user")
        .filter(local=False, username__iexact=user, domain__iexact=normalise_host(domain))
        .first()
    )


@api_view(("read:accounts", "profile"))
def verify_credentials(request: HttpRequest) -> dict[str, Any]:
    """``GET /api/v1/accounts/verify_credentials``: the viewer's CredentialAccount."""
    return account_serializers.credential_account(request.actor)  # type: ignore[attr-defined]


def _fields(params: dict[str, Any]) -> list[tuple[str, str]] | None:
    raw = params.get("fields_attributes")
    if raw is None:
        return None
    return [
        (param_str(item.get("name")).strip(), param_str(item.get("value")).strip())
        for item in param_list(raw)
        if isinstance(item, dict)
    ]


@api_view("write:accounts", methods=("PATCH", "PUT", "POST"))
def update_credentials(request: HttpRequest) -> dict[str, Any]:
    """``PATCH /api/v1/accounts/update_credentials`` (form, multipart or JSON): display_name,
    note, locked, discoverable, avatar, header, source[privacy|sensitive|language],
    fields_attributes. Federates ``Update{Person}`` to followers."""
    params = request.params  # type: ignore[attr-defined]
    source = params.get("source") if isinstance(params.get("source"), dict) else {}

    def opt_str(value: Any) -> str | None:
        return None if value is None else param_str(value)

    def opt_bool(value: Any) -> bool | None:
        return None if value is None or value == "" else param_bool(value)

    try:
        actor = profiles.update_profile(
            request.actor,  # type: ignore[attr-defined]
            display_name=opt_str(params.get("display_name")),
            note=opt_str(params.get("note")),
            locked=opt_bool(params.get("locked")),
            discoverable=opt_bool(params.get("discoverable")),
            language=opt_str(source.get("language")) or None,
            privacy=opt_str(source.get("privacy")) or None,
            sensitive=opt_bool(source.get("sensitive")),
            fields=_fields(params),
            avatar=request.FILES.get("avatar"),
            header=request.FILES.get("header"),
        )
    except profiles.ProfileError as exc:
        raise ValidationFailed(exc.message) from exc
    return account_serializers.credential_account(actor)


@api_view(None)
def lookup(request: HttpRequest) -> dict[str, Any]:
    """``GET /api/v1/accounts/lookup?acct=``: a known account by WebFinger address."""
    acct = param_str(request.params.get("acct"))  # type: ignore[attr-defined]
    actor = find_by_acct(acct) if acct else None
    if actor is None:
        raise NotFound()
    return account_serializers.account(actor)


@api_view(None)
def show(request: HttpRequest, account_id: int) -> dict[str, Any]:
    """``GET /api/v1/accounts/:id``."""
    return account_serializers.account(get_account(account_id), viewer=request.actor)  # type: ignore[attr-defined]


@api_view(None)
def statuses(request: HttpRequest, account_id: int) -> Any:
    """``GET /api/v1/accounts/:id/statuses`` (exclude_replies, exclude_reblogs, only_media,
    pinned, tagged; paginated)."""
    account = get_account(account_id)
    viewer = request.actor  # type: ignore[attr-defined]
    params = request.params  # type: ignore[attr-defined]
    page = page_params(request)
    posts = timelines.account(
        viewer,
        account,
        exclude_replies=param_bool(params.get("exclude_replies")),
        exclude_reblogs=param_bool(params.get("exclude_reblogs")),
        only_media=param_bool(params.get("only_media")),
        pinned=param_bool(params.get("pinned")),
        tagged=param_str(params.get("tagged")) or None,
        **page.as_kwargs(),
    )
    return json_response(serializers.statuses(posts, viewer=viewer), link=link_header(request, posts))


def _follow_list(request: HttpRequest, qs: Any, side: str) -> Any:
    rows, link = paginate(
        request, qs.select_related(side, f"{side}__user"), default=ACCOUNT_LIST_DEFAULT, maximum=ACCOUNT_LIST_MAX
    )
    actors = [getattr(row, side) for row in rows]
    return json_response(account_serializers.accounts(actors, viewer=request.actor), link=link)  # type: ignore[attr-defined]


@api_view(None)
def followers(request: HttpRequest, account_id: int) -> Any:
    """``GET /api/v1/accounts/:id/followers`` (accepted follows, newest first; paginated by
    follow id, as Mastodon)."""
    account = get_account(account_id)
    qs = Follow.objects.filter(target=account, state=FollowState.ACCEPTED, follower__suspended=False)
    return _follow_list(request, qs, "follower")


@api_view(None)
def following(request: HttpRequest, account_id: int) -> Any:
    """``GET /api/v1/accounts/:id/following``."""
    account = get_account(account_id)
    qs = Follow.objects.filter(follower=account, state=FollowState.ACCEPTED, target__suspended=False)
    return _follow_list(request, qs, "target")


@api_view(("write:follows", "follow"), methods=("POST",))
def follow(request: HttpRequest, account_id: int) -> dict[str, Any]:
    """``POST /api/v1/accounts/:id/follow``: follow (a remote account gets a ``Follow``;
    locked accounts leave the request pending: ``requested: true``)."""
    viewer: Actor = request.actor  # type: ignore[attr-defined]
    target = get_account(account_id)
    if target.pk == viewer.pk or target.suspended:
        raise Forbidden()
    if ActorBlock.objects.filter(Q(owner=target, target=viewer) | Q(owner=viewer, target=target)).exists():
        raise Forbidden()
    try:
        follow_service.follow(viewer, target)
    except follow_service.FollowError as exc:
        raise Forbidden(str(exc)) from exc
    return account_serializers.relationship(viewer, target)


@api_view(("write:follows", "follow"), methods=("POST",))
def unfollow(request: HttpRequest, account_id: int) -> dict[str, Any]:
    """``POST /api/v1/accounts/:id/unfollow`` (also withdraws a pending request)."""
    viewer: Actor = request.actor  # type: ignore[attr-defined]
    target = get_account(account_id)
    follow_service.unfollow(viewer, target)
    return account_serializers.relationship(viewer, target)


@api_view(("write:follows", "follow"), methods=("POST",))
def remove_from_followers(request: HttpRequest, account_id: int) -> dict[str, Any]:
    """``POST /api/v1/accounts/:id/remove_from_followers``."""
    viewer: Actor = request.actor  # type: ignore[attr-defined]
    target = get_account(account_id)
    row = Follow.objects.filter(follower=target, target=viewer).select_related("follower", "target").first()
    if row is not None:
        follow_service.reject_follow(row)
    return account_serializers.relationship(viewer, target)


@api_view(("read:follows", "follow"))
def relationships_view(request: HttpRequest) -> list[dict[str, Any]]:
    """``GET /api/v1/accounts/relationships?id[]=``: in the order asked, unknown ids skipped."""
    ids = []
    for value in param_list(request.params.get("id")):  # type: ignore[attr-defined]
        try:
            ids.append(int(param_str(value)))
        except ValueError:
            continue
    found = Actor.objects.in_bulk(ids)
    targets = [found[i] for i in dict.fromkeys(ids) if i in found]
    return account_serializers.relationships(request.actor, targets)  # type: ignore[attr-defined]


def _search_accounts(viewer: Actor, q: str, *, resolve: bool, limit: int, following: bool) -> list[Actor]:
    """Accounts for a query: an exact ``user@domain`` (resolved over the network when asked),
    else names and display names containing it."""
    q = q.strip()
    found: list[Actor] = []
    if "@" in q.lstrip("@"):
        actor = find_by_acct(q)
        if actor is None and resolve:
            try:
                actor = resolve_handle(q.lstrip("@"))
            except ActorNotFound:
                actor = None
        if actor is not None:
            found.append(actor)
    search_fn = getattr(search_module, "search", None)
    if search_fn is not None:
        result = search_fn(viewer, q, type="accounts", resolve=False, limit=limit)
        found.extend(a for a in result.get("accounts", []) if a.pk not in {f.pk for f in found})
    else:
        term = q.lstrip("@").split("@")[0]
        qs = Actor.objects.filter(Q(username__icontains=term) | Q(name__icontains=term), suspended=False)
        found.extend(a for a in qs.order_by("-local", "username")[: limit * 2] if a.pk not in {f.pk for f in found})
    if following:
        ids = set(
            Follow.objects.filter(follower=viewer, state=FollowState.ACCEPTED, target__in=found).values_list(
                "target_id", flat=True
            )
        )
        found = [a for a in found if a.pk in ids]
    return found[:limit]


@api_view("read:accounts")
def search(request: HttpRequest) -> list[dict[str, Any]]:
    """``GET /api/v1/accounts/search?q=&resolve=&limit=&following=``."""
    params = request.params  # type: ignore[attr-defined]
    q = param_str(params.get("q")).strip()
    if not q:
        return []
    limit = max(1, min(param_int(params.get("limit"), 40) or 40, ACCOUNT_LIST_MAX))
    actors = _search_accounts(
        request.actor,  # type: ignore[attr-defined]
        q,
        resolve=param_bool(params.get("resolve")),
        limit=limit,
        following=param_bool(params.get("following")),
    )
    return account_serializers.accounts(actors, viewer=request.actor)  # type: ignore[attr-defined]
