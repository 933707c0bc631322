"""Remote objects into posts: ``ap_to_post`` (re-exported by ``microblog.activitypub``).

The caller guarantees ``data`` comes from ``actor``'s origin (fetched there, or embedded in an
activity signed by that actor with the same host). Everything else is checked here: the
object's author must be ``actor``, HTML is sanitised before storage, sizes are bounded, a
tombstoned post is never resurrected and a local post is never overwritten.

Peer quirks tolerated (each names the server that needs it):
- ``to``/``cc``/``tag``/``attachment`` as a single string or object instead of a list
  (Mastodon sends ``to`` as a string in votes and Moves; Pleroma/GoToSocial in places);
- ``contentMap`` without ``content`` (some Misskey forks, GoToSocial): pick zh-Hans, then en,
  then the first language; Friendica sends a ``contentMap`` that differs from ``content``:
  ``content`` wins and the map value for its language is kept as is;
- the public collection as ``as:Public`` / ``Public`` (Pleroma, old Mastodon);
- Lemmy ``Page``/``Article`` with a ``name`` title: the title is kept in ``name`` and shown as
  the first paragraph of ``content`` (Mastodon shows titles the same way); Lemmy's
  ``language: {identifier}``;
- Misskey ``_misskey_content`` (MFM source) is ignored, the HTML ``content`` is used; quotes
  (``_misskey_quote``/``quoteUrl``/``quoteUri``) are kept as the "RE: <link>" already in
  the content;
- types we do not display natively (PeerTube ``Video``, ``Event``, ``Audio``, ``Image``) are
  stored as a link to their page with their title, as Mastodon does;
- ``inReplyTo`` as an id or an embedded object; a reply whose parent arrives later is linked
  then (orphans are adopted by their parent).
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from federation.models import Actor
from federation.sanitize import plain_text, sanitize_html
from federation.vocab import PUBLIC_FORMS, as_list, id_of, ids_of, type_of
from microblog.models import Mention, Post, PostEdit, Visibility
from microblog.text import hashtag_name, set_hashtags

log = logging.getLogger(__name__)

NATIVE_TYPES = frozenset({"Note", "Question", "Page", "Article"})
LANGUAGE_PREFERENCE = ("zh-Hans", "zh", "en")
MAX_CONTENT = 100_000  # characters of sanitised HTML kept


class RemotePostError(ValueError):
    """The object cannot be stored as a post (no id, wrong author, not allowed)."""


def _http(value: Any) -> str:
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= 500 else ""


def parse_time(value: Any) -> datetime | None:
    """An AS2 timestamp as an aware datetime (UTC assumed when the zone is missing, as Pleroma writes)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _page_url(data: dict[str, Any]) -> str:
    """The HTML page of an object: ``url`` as a string, a Link, or a list of Links (PeerTube)."""
    for item in as_list(data.get("url")):
        if isinstance(item, str) and _http(item):
            return item
        if isinstance(item, dict) and item.get("mediaType", "text/html") == "text/html":
            href = _http(item.get("href")) or _http(item.get("url"))
            if href:
                return href
    return ""


def _language_and_content(data: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(language, raw HTML content, raw contentMap) chosen by our preference."""
    raw_map = data.get("contentMap")
    cmap: dict[str, str] = {}
    if isinstance(raw_map, dict):
        cmap = {str(k): v for k, v in raw_map.items() if isinstance(v, str) and k and k != "und"}
    raw_content = data.get("content")
    content = raw_content if isinstance(raw_content, str) else ""
    language = ""
    if cmap:
        for want in LANGUAGE_PREFERENCE:
            if want in cmap:
                language = want
                break
        else:
            language = next((k for k, v in cmap.items() if v == content), next(iter(cmap)))
        if not content:
            content = cmap[language]
    lemmy_language = data.get("language")
    if not language and isinstance(lemmy_language, dict) and isinstance(lemmy_language.get("identifier"), str):
        language = lemmy_language["identifier"][:16] if lemmy_language["identifier"] != "und" else ""
    if language.lower() in ("zh", "zh-cn"):
        language = "zh-Hans"
    return language[:16], content, cmap


def _visibility(to: list[str], cc: list[str], actor: Actor) -> str:
    if any(t in PUBLIC_FORMS for t in to):
        return Visibility.PUBLIC
    if any(t in PUBLIC_FORMS for t in cc):
        return Visibility.UNLISTED
    targets = set(to) | set(cc)
    if (actor.followers_url and actor.followers_url in targets) or any(t.endswith("/followers") for t in targets):
        return Visibility.PRIVATE
    known = set(Actor.objects.filter(ap_id__in=targets).values_list("ap_id", flat=True))
    # Addressed only to actors (a direct message) vs to some collection we cannot expand
    # (a Lemmy community without Public, a custom audience): treat the latter as followers-only.
    return Visibility.DIRECT if targets and targets <= known else Visibility.PRIVATE


def _mentioned_actors(data: dict[str, Any], to: list[str], cc: list[str]) -> list[Actor]:
    """Known actors named by ``Mention`` tags (by id, or by profile URL for local members), and
    local members addressed in ``to``/``cc`` (direct messages without tags, funfedi cases).
    Unknown remote mentions are not fetched (no fetch storm per incoming post)."""
    refs = {
        t["href"]
        for t in as_list(data.get("tag"))
        if isinstance(t, dict) and type_of(t) == "Mention" and isinstance(t.get("href"), str)
    }
    found: dict[int, Actor] = {a.pk: a for a in Actor.objects.filter(ap_id__in=refs)}
    for a in Actor.objects.filter(local=True, url__in=refs):
        found.setdefault(a.pk, a)
    for a in Actor.objects.filter(local=True, ap_id__in=set(to) | set(cc)):
        found.setdefault(a.pk, a)
    return list(found.values())


def _hashtags(data: dict[str, Any]) -> list[str]:
    names = []
    for t in as_list(data.get("tag")):
        if isinstance(t, dict) and type_of(t) == "Hashtag" and isinstance(t.get("name"), str):
            name = hashtag_name(t["name"])
            if name:
                names.append(name)
    return names


def _fields(data: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """Model fields of a remote object (sanitised, bounded)."""
    kind = type_of(data) or "Note"
    language, raw, cmap = _language_and_content(data)
    content = sanitize_html(raw)
    raw_name = data.get("name")
    title = plain_text(raw_name)[:500] if isinstance(raw_name, str) else ""
    page = _page_url(data)
    if kind not in NATIVE_TYPES:
        # Mastodon's way for Video/Event/...: title and a link to the original page.
        link = page or str(data["id"])
        content = sanitize_html(
            f'<p>{html.escape(title)}</p><p><a href="{html.escape(link)}">{html.escape(link)}</a></p>'
        )
    elif kind in ("Page", "Article") and title:
        content = sanitize_html(f"<p><strong>{html.escape(title)}</strong></p>") + content
    elif kind == "Question" and title and not content:
        content = sanitize_html(f"<p>{html.escape(title)}</p>")  # Smithereen: the question text is its name
    raw_summary = data.get("summary")
    summary = plain_text(raw_summary)[:1000] if isinstance(raw_summary, str) else ""
    to, cc = ids_of(data.get("to")), ids_of(data.get("cc"))
    published = parse_time(data.get("published")) or timezone.now()
    updated = parse_time(data.get("updated"))
    parent_id = id_of(data.get("inReplyTo")) or ""
    conversation = data.get("context") or data.get("conversation")
    return {
        "object_type": kind[:32],
        "content": content[:MAX_CONTENT],
        "content_map": {k[:16]: sanitize_html(v)[:MAX_CONTENT] for k, v in list(cmap.items())[:10]}
        if cmap
        else ({language: content[:MAX_CONTENT]} if language else {}),
        "language": language,
        "name": title if kind not in ("Note",) else "",
        "summary": summary,
        "sensitive": bool(data.get("sensitive")) or bool(summary),
        "url": page or str(data["id"]),
        "to": to[:200],
        "cc": cc[:200],
        "visibility": _visibility(to, cc, actor),
        "published_at": published,
        "edited_at": updated if updated and updated > published else None,
        "in_reply_to_ap_id": _http(parent_id),
        "conversation": conversation[:500] if isinstance(conversation, str) else "",
    }


def _sync_attachments(post: Post, actor: Actor, data: dict[str, Any]) -> None:
    from microblog import media as media_module

    convert = getattr(media_module, "ap_to_media", None)
    if convert is None:
        return
    post.media.all().delete()
    for position, item in enumerate(as_list(data.get("attachment"))[:8]):
        if not isinstance(item, dict):
            continue
        try:
            media = convert(actor, item)
        except Exception:  # a malformed attachment never loses the post
            log.warning("attachment of %s not stored", post.ap_id, exc_info=True)
            continue
        if media is not None:
            media.post, media.position = post, position
            media.save(update_fields=["post", "position"])


def _sync_poll(post: Post, data: dict[str, Any]) -> None:
    if type_of(data) != "Question":
        return
    from microblog import polls

    convert = getattr(polls, "ap_to_poll", None)
    if convert is not None:
        convert(post, data)


def _link_thread(post: Post) -> None:
    """Link the post to a known parent, count it there, and adopt replies that arrived first."""
    if post.in_reply_to_ap_id and post.in_reply_to_id is None:
        parent = Post.objects.filter(ap_id=post.in_reply_to_ap_id).first()
        if parent is not None:
            post.in_reply_to = parent
            if not post.conversation:
                post.conversation = parent.conversation or parent.ap_id
            post.save(update_fields=["in_reply_to", "conversation"])
            Post.objects.filter(pk=parent.pk).update(replies_count=F("replies_count") + 1)
    orphans = Post.objects.filter(
        in_reply_to_ap_id=post.ap_id, in_reply_to__isnull=True, deleted_at__isnull=True
    ).exclude(in_reply_to_ap_id="")  # the partial index post_orphan_replies
    adopted = orphans.update(in_reply_to=post)
    if adopted:
        Post.objects.filter(pk=post.pk).update(replies_count=F("replies_count") + adopted)


def ap_to_post(data: dict[str, Any], *, actor: Actor, fetch_parent: bool = False) -> Post:
    """Create or update the remote post described by ``data``, authored by ``actor``.

    Guarantees: ``attributedTo`` names ``actor`` (else :class:`RemotePostError`); content is
    sanitised; a tombstoned post is returned unchanged (never resurrected); an update keeps
    the previous version as a :class:`PostEdit` when text, warning or sensitivity changed;
    mentions, hashtags, attachments (via ``microblog.media.ap_to_media``) and polls (via
    ``microblog.polls.ap_to_poll``) follow the document. ``fetch_parent`` is accepted for the
    inbound handler, which does the fetching (never this function)."""
    ap_id = data.get("id")
    if not isinstance(ap_id, str) or not _http(ap_id):
        raise RemotePostError("object without a usable id")
    authors = ids_of(data.get("attributedTo"))
    if actor.ap_id not in authors:
        raise RemotePostError("object is not attributed to the sender")
    existing = Post.objects.filter(ap_id=ap_id).first()
    if existing is not None and (existing.local or existing.author_id != actor.pk):
        raise RemotePostError("object id belongs to another author")
    if existing is not None and existing.deleted_at is not None:
        return existing
    fields = _fields(data, actor)
    mentioned = _mentioned_actors(data, fields["to"], fields["cc"])
    audience_id = id_of(data.get("audience"))
    audience = Actor.objects.filter(ap_id=audience_id).first() if audience_id else None
    with transaction.atomic():
        if existing is None:
            try:
                with transaction.atomic():
                    post = Post.objects.create(ap_id=ap_id, local=False, author=actor, audience=audience, **fields)
            except IntegrityError:  # stored concurrently by another worker
                return Post.objects.get(ap_id=ap_id)
            _link_thread(post)
        else:
            post = Post.objects.select_for_update().get(pk=existing.pk)
            changed = (post.content, post.summary, post.sensitive) != (
                fields["content"],
                fields["summary"],
                fields["sensitive"],
            )
            if changed:
                if not post.edits.exists():
                    PostEdit.objects.create(
                        post=post, content=post.content, summary=post.summary, sensitive=post.sensitive,
                        created_at=post.published_at,
                    )  # fmt: skip
                PostEdit.objects.create(
                    post=post, content=fields["content"], summary=fields["summary"], sensitive=fields["sensitive"],
                    created_at=fields["edited_at"] or timezone.now(),
                )  # fmt: skip
                fields["edited_at"] = fields["edited_at"] or timezone.now()
            else:
                fields["edited_at"] = post.edited_at
            for name in ("published_at", "in_reply_to_ap_id"):
                fields.pop(name)
            for name, value in fields.items():
                setattr(post, name, value)
            post.audience = audience or post.audience
            post.save()
        Mention.objects.bulk_create(
            [Mention(post=post, actor=a) for a in mentioned if a.pk != actor.pk], ignore_conflicts=True
        )
        set_hashtags(post, _hashtags(data))
        _sync_attachments(post, actor, data)
        _sync_poll(post, data)
    return post
