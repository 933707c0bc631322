"""Lesson text: Markdown rendered to HTML, then sanitised with the federation allow-list.

Raw HTML in the source is escaped by the renderer (never passed through), and the output goes
through ``federation.sanitize.sanitize_html`` anyway, so no script, event handler, ``javascript:``
link, iframe or style survives whatever the input. Headings become strong paragraphs (the
sanitiser's mapping); images are not in the allow-list (attachments carry media).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from federation.sanitize import sanitize_html

if TYPE_CHECKING:
    import markdown as md


@cache
def _escape_html_extension() -> type[Any]:
    """The Markdown extension class that drops the raw-HTML preprocessors so inline and block
    HTML are shown as text. Built on first use: ``markdown`` is imported only when a lesson is
    rendered, not by every process at start (bench B12)."""
    from markdown.extensions import Extension

    class _EscapeHtml(Extension):
        def extendMarkdown(self, parser: md.Markdown) -> None:  # Markdown's API name
            parser.preprocessors.deregister("html_block")
            parser.inlinePatterns.deregister("html")

    return _EscapeHtml


MAX_SOURCE = 200_000  # characters of Markdown per lesson


def render_markdown(source: str) -> str:
    """Safe HTML for ``source`` (Markdown): only the sanitiser's tags, http/https/mailto links
    with ``rel="nofollow noopener noreferrer"``; an empty string for an empty source."""
    if not source or not source.strip():
        return ""
    import markdown as md  # imported on use (bench B12)

    renderer = md.Markdown(extensions=["extra", "sane_lists", _escape_html_extension()()], output_format="html")
    return sanitize_html(renderer.convert(source[:MAX_SOURCE]))
