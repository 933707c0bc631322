"""HTML sanitising of federated content and linkifying of members' text."""

from __future__ import annotations

import json

import pytest

from federation.sanitize import linkify_text, plain_text, sanitize_html

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<p style="background:url(javascript:alert(1))" onclick="alert(1)">x</p>',
    "<style>body{display:none}</style>",
    '<svg onload="alert(1)"><script>alert(1)</script></svg>',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="https://evil.example/x.swf"></object>',
    '<embed src="https://evil.example/x.swf">',
    '<form action="https://evil.example"><input name=x></form>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<<script>script>alert(1)<</script>/script>",
    "<scr<script>ipt>alert(1)</script>",
    '<a href="https://ok.example" onmouseover="alert(1)">x</a>',
    '<img src="https://ok.example/a.png">',
    "<div><p>unclosed <b>tags",
    "<!-- <script>alert(1)</script> -->",
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<span style="position:fixed" class="invisible">x</span>',
]
DANGEROUS = (
    "<script",
    "onerror",
    "onload",
    "onclick",
    "onmouseover",
    "javascript:",
    "vbscript:",
    "data:",
    "<style",
    "<iframe",
    "<svg",
    "<img",
    "<object",
    "<embed",
    "<form",
    "<input",
    "style=",
    "<base",
    "<meta",
    "<math",
)


@pytest.mark.parametrize("payload", XSS)
def test_sanitize_removes_xss_vectors(payload):
    """Scripts, event handlers, dangerous URLs, styles, embeds and SVG never survive sanitising."""
    cleaned = sanitize_html(payload).lower()
    for needle in DANGEROUS:
        assert needle not in cleaned, (payload, cleaned)


def test_sanitize_keeps_mastodon_fixture_with_h_card_mention(fixture_path):
    """The real Mastodon note keeps its h-card mention link, classes and text."""
    content = json.loads(fixture_path("mastodon/create_note.json").read_text())["object"]["content"]
    cleaned = sanitize_html(content)
    assert (
        '<span class="h-card"><a href="https://mamot.fr/@retiolus" class="u-url mention" rel="nofollow noopener noreferrer">@<span>retiolus</span></a></span>'
        in cleaned
    )
    assert plain_text(cleaned) == plain_text(content)
    assert "thinkpad" in cleaned


def test_sanitize_keeps_hashtag_class_and_drops_others():
    """mention/hashtag/invisible/ellipsis classes stay; other classes are removed."""
    cleaned = sanitize_html(
        '<a href="https://m.example/tags/x" class="mention hashtag evil" rel="tag">#<span class="invisible big">x</span></a>'
        '<span class="ellipsis">…</span><p class="lead">p</p>'
    )
    assert 'class="mention hashtag"' in cleaned
    assert '<span class="invisible">x</span>' in cleaned
    assert '<span class="ellipsis">' in cleaned
    assert "evil" not in cleaned and "big" not in cleaned and "lead" not in cleaned


def test_sanitize_links_get_rel_and_lose_target():
    """Links keep http/https/mailto hrefs, gain rel=nofollow noopener noreferrer, lose target."""
    cleaned = sanitize_html(
        '<a href="https://x.example/" target="_blank" rel="me">x</a> <a href="mailto:a@b.example">m</a>'
    )
    assert cleaned.count('rel="nofollow noopener noreferrer"') == 2
    assert "target" not in cleaned and 'rel="me"' not in cleaned
    assert 'href="mailto:a@b.example"' in cleaned


def test_sanitize_maps_headings_to_strong_paragraphs():
    """Headings become strong paragraphs so their text does not run into what follows."""
    assert sanitize_html("<h1 id=x>Title</h1><p>body</p>") == "<p><strong>Title</strong></p><p>body</p>"


@pytest.mark.parametrize("text", ["བོད་ཡིག་ནི་བོད་ཀྱི་ཡི་གེ་ཡིན།", "中文内容，测试。", "ᦺᦑᦟᦹᧉ ᦓᦱᧃᦷᦡᧄ", "🙂 emoji ✓"])
def test_sanitize_preserves_non_latin_text_exactly(text):
    """Tibetan, Chinese, New Tai Lue (Dai) and emoji text pass byte-for-byte."""
    assert sanitize_html(f"<p>{text}</p>") == f"<p>{text}</p>"
    assert sanitize_html(text).encode() == text.encode()
    assert plain_text(f"<p>{text}</p>") == text


def test_plain_text_strips_tags_and_decodes_entities():
    """plain_text drops markup and script content, keeps line structure and decodes entities."""
    assert plain_text("<p>a &amp; b<br>c</p><p>d</p><script>evil()</script>") == "a & b\nc\n\nd"


def test_linkify_text_escapes_links_and_paragraphs():
    """A member's text is escaped, URLs become safe links, blank lines paragraphs, newlines <br>."""
    html = linkify_text("Hi <b>you</b> & see https://example.com/a?b=1&c=2\nline two\n\nsecond para")
    assert html.startswith("<p>Hi &lt;b&gt;you&lt;/b&gt; &amp; see ")
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">' in html
    assert "<br>line two</p><p>second para</p>" in html


def test_linkify_text_never_links_javascript():
    """javascript: text is not turned into a link."""
    html = linkify_text("javascript:alert(1) <script>alert(1)</script>")
    assert "<a" not in html and "<script" not in html


def test_linkify_text_keeps_unicode():
    """Tibetan text around a link is unchanged."""
    html = linkify_text("བོད་ཡིག https://example.org 中文")
    assert html.startswith('<p>བོད་ཡིག <a href="https://example.org"') and html.endswith(" 中文</p>")


def test_empty_inputs():
    """Empty input gives empty output for every function."""
    assert sanitize_html("") == plain_text("") == linkify_text("  \n ") == ""
