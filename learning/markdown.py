"""Lesson text: Markdown rendered to HTML, then sanitised with the federation allow-list.

Raw HTML in the source is escaped by the renderer (never passed through), and the output goes
through ``federation.sanitize.sanitize_html`` anyway, so no script, event handler, ``javascript:``
link, iframe or style survives whatever the input. Headings become strong paragraphs (the
sanitiser's mapping); images are not in the allow-list (attachments carry media).
"""

from __future__ import annotations

import markdown as md
from markdown.extensions import Extension

from federation.sanitize import sanitize_html


class _EscapeHtml(Extension):
    """Drop the raw-HTML preprocessors so inline and block HTML are shown as text."""

    def extendMarkdown(self, parser: md.Markdown) -> None:  # Markdown's API name
        parser.preprocessors.deregister("html_block")
        parser.inlinePatterns.deregister("html")


MAX_SOURCE = 200_000  # characters of Markdown per lesson


def render_markdown(source: str) -> str:
    """Safe HTML for ``source`` (Markdown): only the sanitiser's tags, http/https/mailto links
    with ``rel="nofollow noopener noreferrer"``; an empty string for an empty source."""
    if not source or not source.strip():
        return ""
    renderer = md.Markdown(extensions=["extra", "sane_lists", _EscapeHtml()], output_format="html")
    return sanitize_html(renderer.convert(source[:MAX_SOURCE]))
