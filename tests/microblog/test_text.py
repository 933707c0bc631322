"""Members' plain text into Mastodon-style HTML: mentions, hashtags in several scripts, links."""

from __future__ import annotations

import pytest

from microblog import text
from microblog.models import Hashtag

pytestmark = pytest.mark.django_db


def _no_remote(username, domain):
    return None


def test_hashtags_found_in_chinese_tibetan_dai_and_english():
    """Tags in Chinese, Tibetan (vowel signs, inner tsheg), Tai Lue, Tai Le and English are whole words, lower-cased."""
    found = text.hashtags_in("#党员教育 #བོད་ཡིག་ #ᦑᦲᧈᦟᦹᧉ #ᥖᥭᥰᥖᥬᥳᥑᥨᥒᥰ #Hello")
    assert found == ["党员教育", "བོད་ཡིག", "ᦑᦲᧈᦟᦹᧉ", "ᥖᥭᥰᥖᥬᥳᥑᥨᥒᥰ", "hello"]


def test_hashtags_skip_numbers_urls_and_words():
    """``#123``, a URL fragment and ``a#b`` are not tags."""
    assert text.hashtags_in("#123 https://example.com/#frag a#b") == []


def test_tibetan_tag_keeps_trailing_tsheg_outside_the_link():
    """A tag ending with a tsheg is linked without it and the tsheg stays as text."""
    rendered = text.render("ང་ #བོད་ ཡིན།", resolve=_no_remote)
    assert rendered.hashtags == ["བོད"]
    assert "#<span>བོད</span></a>་" in rendered.html


def test_render_builds_mastodon_html(make_local_member):
    """A local mention becomes an h-card link, a tag a hashtag link, a URL a link, lines <p>/<br>."""
    bob = make_local_member("bob")
    rendered = text.render("你好 @bob #党员教育\nhttps://example.org/x\n\nEnglish #Tag")
    assert rendered.mentions == [bob]
    assert rendered.hashtags == ["党员教育", "tag"]
    assert rendered.html.startswith('<p>你好 <span class="h-card">')
    assert f'<a href="{bob.url}" class="u-url mention"' in rendered.html
    assert "@<span>bob</span></a></span>" in rendered.html
    assert 'class="mention hashtag"' in rendered.html and "#<span>党员教育</span>" in rendered.html
    assert "<br>" in rendered.html and '<a href="https://example.org/x"' in rendered.html
    assert rendered.html.count("<p>") == 2


def test_unresolvable_mention_stays_plain_text(db):
    """A mention nobody answers to is left as typed, with no link and no mention recorded."""
    rendered = text.render("hi @ghost@nowhere.invalid and @nobody", resolve=lambda u, d: None)
    assert rendered.mentions == []
    assert "@ghost@nowhere.invalid" in rendered.html and "<a" not in rendered.html


def test_remote_mention_uses_known_actor_without_lookup(make_remote_actor):
    """A remote handle of a cached actor is linked to its id with its short name shown."""
    carol, _ = make_remote_actor("carol", domain="remote.example")
    rendered = text.render("cc @carol@remote.example")
    assert rendered.mentions == [carol]
    assert f'href="{carol.ap_id}"' in rendered.html and "@<span>carol</span>" in rendered.html


def test_remote_mention_is_resolved_by_webfinger(monkeypatch, db):
    """An unknown remote handle is resolved once through federation.lookup.resolve_handle."""
    from federation import lookup
    from federation.models import Actor

    calls = []

    def fake_resolve(handle, *, refresh=False):
        calls.append(handle)
        return Actor.objects.create(ap_id="https://far.example/u/dora", username="dora", domain="far.example")

    monkeypatch.setattr(lookup, "resolve_handle", fake_resolve)
    rendered = text.render("@dora@far.example @dora@far.example")
    assert calls == ["dora@far.example"]
    assert [a.ap_id for a in rendered.mentions] == ["https://far.example/u/dora"]


def test_email_and_url_path_are_not_mentions(make_local_member):
    """``me@bob`` and ``/@bob`` are not mentions of bob."""
    make_local_member("bob")
    rendered = text.render("mail me@bob now")
    assert rendered.mentions == []


def test_html_in_text_is_escaped():
    """Markup typed by a member is shown as text, never interpreted."""
    rendered = text.render("<script>alert(1)</script> <b>x</b>", resolve=_no_remote)
    assert "<script" not in rendered.html and "<b>" not in rendered.html
    assert "&lt;b&gt;" in rendered.html


def test_text_length_counts_links_as_23():
    """Links count 23 characters and remote mentions only their user part, as Mastodon counts."""
    assert text.text_length("https://example.com/" + "a" * 100) == 23
    assert text.text_length("@bob@remote.example") == 4


def test_set_hashtags_stores_lowercase_rows(make_post, local_member):
    """Hashtag rows are created once, lower-cased, and linked to the post."""
    post = make_post(local_member, "x")
    text.set_hashtags(post, ["Foo", "foo", "#Bar", "123"])
    assert sorted(post.hashtags.values_list("name", flat=True)) == ["bar", "foo"]
    assert Hashtag.objects.count() == 2
