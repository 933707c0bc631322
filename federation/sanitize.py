"""HTML that crosses the node boundary.

- ``sanitize_html``: remote HTML (and our own rendered HTML) through one reused nh3 (ammonia)
  cleaner with a Mastodon-like allow-list. nh3 keeps B3's request path cheap (BENCHMARKS.md B8);
  bleach is deprecated and ~30x slower, so it is used only for linkifying members' own text.
- ``linkify_text``: members' plain text → escaped, linkified, paragraphs, then sanitised.
- ``plain_text``: tags stripped, entities decoded, for summaries and search.
"""

from __future__ import annotations

import html
import re
import threading
from typing import TYPE_CHECKING

import nh3

if TYPE_CHECKING:
    from bleach.linkifier import Linker

ALLOWED_TAGS = frozenset(
    {"p", "br", "a", "span", "strong", "em", "b", "i", "u", "s", "del", "blockquote", "code", "pre", "ul", "ol", "li"}
)
# Classes kept, as Mastodon does: mentions, hashtags, the h-card/u-url microformats of mentions,
# and the "invisible"/"ellipsis" spans Mastodon uses to shorten long link texts.
ALLOWED_CLASSES = {
    "a": {"mention", "hashtag", "u-url", "status-link"},
    "span": {"h-card", "mention", "hashtag", "invisible", "ellipsis"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"
# Dropped with everything inside them (not just the tags).
DROP_WITH_CONTENT = frozenset(
    {"script", "style", "template", "iframe", "object", "embed", "svg", "math", "noscript", "textarea", "title"}
)

_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROP_WITH_CONTENT),
    attributes={"a": {"href"}},
    allowed_classes={tag: set(classes) for tag, classes in ALLOWED_CLASSES.items()},
    url_schemes=set(URL_SCHEMES),
    link_rel=LINK_REL,
    strip_comments=True,
    # Relative links in federated HTML point nowhere useful for our readers.
    url_relative="deny",
)
_TEXT_CLEANER = nh3.Cleaner(tags=set(), clean_content_tags=set(DROP_WITH_CONTENT), attributes={})

# Headings are not part of the allow-list; Pleroma/Akkoma and Friendica send them. Mapping
# them to a strong paragraph keeps the text apart from what follows. The result goes through
# the cleaner anyway, so this rewrite cannot introduce markup that survives unchecked.
_HEADING_OPEN = re.compile(r"<h[1-6](?=[\s/>])[^>]*>", re.IGNORECASE)
_HEADING_CLOSE = re.compile(r"</h[1-6]\s*>", re.IGNORECASE)
_BREAKS = re.compile(r"<br\s*/?>|</p\s*>|</li\s*>|</blockquote\s*>|</pre\s*>", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*")
_SPACES = re.compile(r"[ \t]+\n")


def sanitize_html(value: str) -> str:
    """Return HTML containing only allowed tags, classes and http/https/mailto links (with
    ``rel="nofollow noopener noreferrer"``, no ``target``); scripts, styles, event handlers,
    iframes and SVG are removed. Text content, in any script, is kept unchanged."""
    if not value:
        return ""
    if "<h" in value or "<H" in value:
        value = _HEADING_CLOSE.sub("</strong></p>", _HEADING_OPEN.sub("<p><strong>", value))
    return _CLEANER.clean(value)


def plain_text(value: str) -> str:
    """Text of an HTML fragment: tags removed (script/style content too), line breaks kept as
    newlines, entities decoded. The result is plain text, not HTML: escape it before display."""
    if not value:
        return ""
    value = _BREAKS.sub(lambda m: "\n" if m.group(0).lower().startswith("<br") else "\n\n", value)
    text = html.unescape(_TEXT_CLEANER.clean(value))
    text = _SPACES.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


_local = threading.local()


def _linker() -> Linker:
    """One configured Linker per thread (bleach's parser keeps state while it runs)."""
    linker = getattr(_local, "linker", None)
    if linker is None:
        # Imported here: bleach (with its vendored html5lib) costs ~3 MB in every process that
        # only reads remote HTML (bench B12).
        from bleach.linkifier import Linker

        # No callbacks: rel and the scheme check are applied by sanitize_html afterwards.
        linker = Linker(callbacks=[], parse_email=False, skip_tags={"pre", "code"})
        _local.linker = linker
    return linker


def linkify_text(text: str) -> str:
    """HTML for a member's plain text: escaped, URLs linked, blank lines → paragraphs,
    single newlines → ``<br>``, then passed through ``sanitize_html``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return ""
    paragraphs = [p.strip("\n") for p in _BLANK_LINES.split(text) if p.strip()]
    body = "".join("<p>" + html.escape(p, quote=False).replace("\n", "<br>") + "</p>" for p in paragraphs)
    return sanitize_html(_linker().linkify(body))
