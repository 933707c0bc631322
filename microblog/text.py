"""Members' plain text → Mastodon-style HTML with mentions, hashtags and links.

``render(text)`` escapes and linkifies the text (``federation.sanitize.linkify_text``: ``<p>``
per paragraph, ``<br>`` per line break), then rewrites text outside links:

- ``@user`` (a member of this node) and ``@user@domain`` (anyone, found by WebFinger through
  ``federation.lookup.resolve_handle``) become
  ``<span class="h-card"><a href="..." class="u-url mention">@<span>user</span></a></span>``;
  a mention that cannot be resolved stays plain text;
- ``#tag`` becomes ``<a href="<base>/tags/tag" class="mention hashtag" rel="tag">#<span>tag</span></a>``.
  Tags are Unicode words: letters, digits, ``_`` and combining marks, so Chinese, Tibetan
  (vowel signs are combining marks) and the Tai Lue / Tai Le scripts of the Dai languages
  work; the Tibetan tsheg ``་`` joins syllables inside a tag and is dropped at its end. At
  least one letter is required (``#123`` is not a tag). Names are stored lower-cased.

The result goes through ``sanitize_html`` once more, so nothing here can add unsafe markup.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from django.conf import settings

from federation.hosts import normalise_host
from federation.models import Actor
from federation.sanitize import linkify_text, sanitize_html
from microblog.models import Hashtag, Post


def _marks_class() -> str:
    """A regex character-class body of every combining mark (Mn, Mc, Me) in the BMP."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


TSHEG = "\u0f0b"  # Tibetan intersyllabic mark
MIDDLE_DOT = "\u00b7"  # Catalan "l·l"; Mastodon allows it inside tags too
_TAG_CHAR = rf"[\w{_marks_class()}{TSHEG}{MIDDLE_DOT}]"
HASHTAG_RE = re.compile(rf"(?<![\w/#&{TSHEG}])#({_TAG_CHAR}{{1,100}})")
# ``@user`` or ``@user@domain[:port]`` not preceded by a word character, ``/`` or ``@``
# (so e-mail addresses and URL paths are not mentions).
MENTION_RE = re.compile(r"(?<![\w/@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)(?:@([\w.-]*\w(?::\d{1,5})?))?")
URL_LENGTH = 23  # Mastodon counts every link as 23 characters
_URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TAG_SPLIT = re.compile(r"(<[^>]*>)")


def hashtag_name(raw: str) -> str | None:
    """The stored form of a tag (``#Foo`` / ``Foo`` → ``foo``) or None when it is not a tag."""
    name = raw.lstrip("#").rstrip(TSHEG + MIDDLE_DOT).lower()
    name = unicodedata.normalize("NFC", name)
    if not name or len(name) > 100 or not any(ch.isalpha() for ch in name):
        return None
    if not re.fullmatch(rf"{_TAG_CHAR}+", name):
        return None
    return name


def hashtags_in(text: str) -> list[str]:
    """Distinct tag names found in plain ``text``, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in HASHTAG_RE.finditer(text):
        name = hashtag_name(match.group(1))
        if name:
            seen.setdefault(name, None)
    return list(seen)


def text_length(text: str) -> int:
    """Length of a post as Mastodon counts it: links count 23 characters, remote mentions only
    their ``@user`` part."""
    text = _URL_RE.sub("x" * URL_LENGTH, text)
    text = MENTION_RE.sub(lambda m: "@" + m.group(1), text)
    return len(text)


def tag_url(name: str) -> str:
    """The HTML page of a hashtag on this node."""
    return f"{settings.NODE_BASE_URL}/tags/{quote(name)}"


def _own_host() -> str:
    return normalise_host(str(settings.NODE_DOMAIN))


def resolve_mention(username: str, domain: str | None, *, remote: bool = True) -> Actor | None:
    """The actor named by a mention: local members directly, others by WebFinger (when
    ``remote``); None when nobody answers to that name."""
    if domain:
        try:
            host = normalise_host(domain)
        except ValueError:
            return None
    else:
        host = _own_host()
    if host == _own_host():
        return Actor.objects.filter(local=True, username=username.lower(), suspended=False).first()
    known = Actor.objects.filter(local=False, username__iexact=username, domain__iexact=host).first()
    if known is not None or not remote:
        return known
    from federation.lookup import ActorNotFound, resolve_handle

    try:
        return resolve_handle(f"{username}@{host}")
    except (ActorNotFound, ValueError):
        return None


@dataclass
class Rendered:
    """The HTML of a member's text and what it refers to."""

    html: str
    mentions: list[Actor] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)


def _mention_html(actor: Actor) -> str:
    href = html.escape(actor.url or actor.ap_id)
    name = html.escape(actor.username)
    return f'<span class="h-card"><a href="{href}" class="u-url mention">@<span>{name}</span></a></span>'


def _hashtag_html(raw: str, name: str) -> str:
    shown = raw.rstrip(TSHEG + MIDDLE_DOT)
    return (
        f'<a href="{html.escape(tag_url(name))}" class="mention hashtag" rel="tag">'
        f"#<span>{html.escape(shown, quote=False)}</span></a>{raw[len(shown) :]}"
    )


def _rewrite_text_nodes(markup: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to text outside ``<a>`` elements of trusted, sanitised ``markup``."""
    out: list[str] = []
    depth = 0
    for part in _TAG_SPLIT.split(markup):
        if part.startswith("<"):
            lowered = part.lower()
            if lowered.startswith("<a ") or lowered == "<a>":
                depth += 1
            elif lowered.startswith("</a"):
                depth = max(0, depth - 1)
            out.append(part)
        elif depth == 0 and part:
            out.append(fn(part))
        else:
            out.append(part)
    return "".join(out)


def render(text: str, *, resolve: Callable[[str, str | None], Actor | None] | None = None) -> Rendered:
    """Render a member's plain ``text``: escaped, linked, mentions and hashtags marked up,
    sanitised. ``resolve(username, domain)`` finds mentioned actors (default:
    :func:`resolve_mention`, which may do WebFinger for unknown remote handles)."""
    resolver = resolve or resolve_mention
    cache: dict[tuple[str, str | None], Actor | None] = {}
    mentions: dict[int, Actor] = {}
    tags: dict[str, None] = {}

    def mention(match: re.Match[str]) -> str:
        username, domain = match.group(1), match.group(2)
        key = (username.lower(), (domain or "").lower() or None)
        if key not in cache:
            cache[key] = resolver(username, domain)
        actor = cache[key]
        if actor is None:
            return match.group(0)
        mentions.setdefault(actor.pk, actor)
        return _mention_html(actor)

    def hashtag(match: re.Match[str]) -> str:
        name = hashtag_name(match.group(1))
        if name is None:
            return match.group(0)
        tags.setdefault(name, None)
        return _hashtag_html(match.group(1), name)

    def rewrite(node: str) -> str:
        return HASHTAG_RE.sub(hashtag, MENTION_RE.sub(mention, node))

    markup = _rewrite_text_nodes(linkify_text(text), rewrite)
    return Rendered(html=sanitize_html(markup), mentions=list(mentions.values()), hashtags=list(tags))


def add_hashtags_bulk(pairs: list[tuple[Post, list[str]]]) -> None:
    """Give new posts (no hashtags yet) their hashtags in three queries for all of them: what
    :func:`set_hashtags` does post by post. Runs in the caller's transaction."""
    wanted: dict[int, list[str]] = {}
    for post, names in pairs:
        clean = list(dict.fromkeys(n for n in (hashtag_name(raw) for raw in names) if n))
        if clean:
            wanted[post.pk] = clean
    if not wanted:
        return
    every = {n for names in wanted.values() for n in names}
    Hashtag.objects.bulk_create([Hashtag(name=n) for n in sorted(every)], ignore_conflicts=True)
    ids = dict(Hashtag.objects.filter(name__in=every).values_list("name", "pk"))
    through = Hashtag.posts.through
    through.objects.bulk_create(
        [through(hashtag_id=ids[n], post_id=pk) for pk, names in wanted.items() for n in names], ignore_conflicts=True
    )


def set_hashtags(post: Post, names: Iterable[str]) -> list[str]:
    """Make ``names`` (already normalised) the post's hashtags, creating ``Hashtag`` rows as
    needed; returns the names stored. Runs in the caller's transaction."""
    wanted: list[str] = []
    for raw in names:
        name = hashtag_name(raw)
        if name and name not in wanted:
            wanted.append(name)
    existing = {h.name: h for h in Hashtag.objects.filter(name__in=wanted)}
    for name in wanted:
        if name not in existing:
            existing[name], _ = Hashtag.objects.get_or_create(name=name)
    post.hashtags.set([existing[n] for n in wanted])
    return wanted
