"""Posts as AS2: our documents (Note, Create, Update, Delete) and real peers' documents parsed
into posts (every relevant fixture under ../shared/fixtures)."""

from __future__ import annotations

import pytest

from federation.models import Actor, ActorType
from federation.vocab import PUBLIC
from microblog import activitypub, services
from microblog.models import Hashtag, Mention, Post, PostEdit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hold_deliveries")]


def _actor(ap_id: str, **fields) -> Actor:
    """A cached remote actor with this id (followers collection at ``<id>/followers`` unless given)."""
    host = ap_id.split("/")[2]
    fields.setdefault("followers_url", f"{ap_id}/followers")
    return Actor.objects.create(
        ap_id=ap_id, username=ap_id.rstrip("/").rsplit("/", 1)[-1], domain=host, inbox_url=f"{ap_id}/inbox", **fields
    )


def _object(doc: dict) -> dict:
    return doc["object"] if doc.get("type") in ("Create", "Update") else doc


# ---------------------------------------------------------------- our documents


def test_post_to_ap_has_mastodon_shape(local_member, make_local_member):
    """A local post becomes a Note with addressing, tags, contentMap, CW, url and published."""
    make_local_member("bob")
    post = services.create_post(local_member, text="hi @bob #Tag", summary="cw", language="en")
    doc = activitypub.post_to_ap(post)
    assert doc["@context"][0] == "https://www.w3.org/ns/activitystreams"
    assert doc["id"] == post.ap_id and doc["type"] == "Note"
    assert doc["attributedTo"] == local_member.ap_id
    assert doc["to"] == [PUBLIC] and local_member.followers_url in doc["cc"]
    assert doc["summary"] == "cw" and doc["sensitive"] is True
    assert doc["contentMap"] == {"en": post.content} and doc["url"] == post.url
    assert {t["type"] for t in doc["tag"]} == {"Mention", "Hashtag"}
    assert {"type": "Hashtag", "href": doc["tag"][1]["href"], "name": "#tag"} in doc["tag"]
    assert doc["inReplyTo"] is None and "updated" not in doc


def test_reply_and_update_carry_parent_and_updated(local_member):
    """A reply names its parent; after an edit the Update has ``updated`` and a new stable id."""
    parent = services.create_post(local_member, text="root")
    reply = services.create_post(local_member, text="re", in_reply_to=parent)
    assert activitypub.post_to_ap(reply)["inReplyTo"] == parent.ap_id
    create = activitypub.post_to_create(reply)
    assert create["id"] == activitypub.post_to_create(reply)["id"]  # stable
    assert "@context" not in create["object"] and create["object"]["id"] == reply.ap_id
    services.edit_post(local_member, reply, text="re edited")
    update = activitypub.post_to_update(reply)
    assert update["type"] == "Update" and update["object"]["updated"]
    assert update["id"] != create["id"] and update["id"] == activitypub.post_to_update(reply)["id"]


def test_delete_is_a_tombstone_with_original_addressing(local_member):
    """The Delete names a Tombstone and goes to the post's audience."""
    post = services.create_post(local_member, text="x", visibility="private")
    services.delete_post(local_member, post)
    post.refresh_from_db()
    delete = activitypub.post_to_delete(post)
    assert delete["object"] == {"id": post.ap_id, "type": "Tombstone"}
    assert delete["to"] == [local_member.followers_url]
    assert activitypub.post_to_ap(post)["type"] == "Tombstone"


def test_own_document_round_trips(local_member, make_local_member):
    """Our Note parsed back as a remote post keeps text, CW, language, tags and visibility."""
    remote = _actor("https://remote.example/users/rob")
    post = services.create_post(
        local_member, text="你好 #党员教育", summary="注意", language="zh-Hans", visibility="unlisted"
    )
    doc = activitypub.post_to_ap(post)
    doc.update({"id": "https://remote.example/objects/1", "attributedTo": remote.ap_id})
    doc["to"], doc["cc"] = [remote.followers_url], [PUBLIC]
    parsed = activitypub.ap_to_post(doc, actor=remote)
    assert parsed.content == post.content and parsed.summary == "注意" and parsed.sensitive
    assert parsed.language == "zh-Hans" and parsed.visibility == "unlisted"
    assert list(parsed.hashtags.values_list("name", flat=True)) == ["党员教育"]


# ---------------------------------------------------------------- peers' documents


def test_mastodon_create_note_reply(load_fixture):
    """Mastodon reply: h-card kept, language from contentMap, parent id, unlisted by cc Public."""
    doc = load_fixture("mastodon/create_note.json")
    felix = _actor(doc["actor"])
    post = activitypub.ap_to_post(doc["object"], actor=felix)
    assert post.author == felix and not post.local and post.object_type == "Note"
    assert post.language == "en" and set(post.content_map) == {"en"}
    assert post.content.startswith('<p><span class="h-card"><a href="https://mamot.fr/@retiolus" class="u-url mention"')
    assert "thinkpad" in post.content
    assert post.in_reply_to_ap_id == "https://mamot.fr/users/retiolus/statuses/107224244380204526"
    assert post.in_reply_to is None and post.visibility == "unlisted"
    assert post.url == "https://mastodon.madrid/@felix/107224289116410645"
    assert post.conversation.startswith("tag:mamot.fr") and post.published_at.year == 2021
    assert post.summary == "" and not post.sensitive


def test_mastodon_note_with_cw_hashtag_and_mention(load_fixture):
    """Content warning and sensitive flag, a Hashtag tag and a Mention of a known actor."""
    doc = load_fixture("mastodon/create_note_hashtag.json")
    admin = _actor(doc["actor"])
    lain = _actor("http://localtesting.pleroma.lol/users/lain")
    post = activitypub.ap_to_post(doc["object"], actor=admin)
    assert post.summary == "cw" and post.sensitive
    assert list(post.hashtags.values_list("name", flat=True)) == ["moo"]
    assert Mention.objects.filter(post=post, actor=lain).exists()
    assert post.visibility == "public"


def test_mastodon_attachment_with_blurhash(load_fixture):
    """Attachments go through microblog.media; Mastodon's target/translate attributes are stripped."""
    doc = load_fixture("mastodon/note_attachment_blurhash.json")
    kde = _actor(doc["attributedTo"])
    post = activitypub.ap_to_post(doc, actor=kde)
    assert "target=" not in post.content and "translate=" not in post.content
    assert '<span class="invisible">https://</span>' in post.content
    media = list(post.media.all())
    assert len(media) == 1
    assert media[0].remote_url.endswith("c8d906a2f2ab2334.jpg")
    assert media[0].description.startswith("The KDE dragons")
    assert media[0].blurhash == "USQv:h-W-qI-^,W;RPs=^-R%NZxbo#sDobSc" and media[0].width == 1500
    assert post.visibility == "public"


def test_mastodon_question_single_choice(load_fixture):
    """A Question is stored with its poll (options and counts, through microblog.polls)."""
    doc = load_fixture("mastodon/question.json")
    rin = _actor(doc["actor"])
    post = activitypub.ap_to_post(doc["object"], actor=rin)
    assert post.object_type == "Question" and "corndog" in post.content
    assert [o.title for o in post.poll.options.all()] == [
        "Dunno",
        "Everyone knows that!",
        "25 char limit is dumb",
        "I can't even fit a funny",
    ]
    assert not post.poll.multiple


def test_question_without_author_is_refused_and_anyof_parsed(load_fixture):
    """Mastodon's documented anyOf example has no attributedTo: refused; with it, a multiple-choice poll."""
    doc = load_fixture("mastodon/question_anyof.json")
    alice = _actor("https://mastodon.example/users/alice")
    with pytest.raises(activitypub.RemotePostError):
        activitypub.ap_to_post(doc, actor=alice)
    assert not Post.objects.exists()
    doc["attributedTo"] = alice.ap_id
    post = activitypub.ap_to_post(doc, actor=alice)
    assert post.poll.multiple and post.poll.voters_count == 7
    assert post.visibility == "private"  # addressed to nobody public


def test_lemmy_page_with_title_language_and_audience(load_fixture):
    """Lemmy Page: title kept in name and shown first, language from identifier, group audience."""
    doc = load_fixture("lemmy/page.json")
    picard = _actor(doc["attributedTo"])
    group = _actor(doc["audience"], type=ActorType.GROUP)
    post = activitypub.ap_to_post(doc, actor=picard)
    assert post.object_type == "Page" and post.name == "Post title"
    assert post.content.startswith("<p><strong>Post title</strong></p><p>This is a post")
    assert post.language == "fr" and post.audience == group
    assert post.conversation == "https://enterprise.lemmy.ml/post/55143/context"
    assert post.visibility == "public"


def test_lemmy_comment(load_fixture):
    """Lemmy comment: plain content, parent id, public."""
    doc = load_fixture("lemmy/create_comment.json")
    alpha = _actor(doc["actor"])
    post = activitypub.ap_to_post(doc["object"], actor=alpha)
    assert post.content == "hello" and post.in_reply_to_ap_id == "http://ds9.lemmy.ml/post/1"
    assert post.visibility == "public"


def test_lemmy_update_page_records_edit(load_fixture):
    """A Lemmy Update of a stored Page keeps the previous version and sets edited_at."""
    doc = load_fixture("lemmy/update_page.json")
    alpha = _actor(doc["actor"])
    first = dict(doc["object"], content="<p>old body</p>")
    first.pop("updated")
    post = activitypub.ap_to_post(first, actor=alpha)
    updated = activitypub.ap_to_post(doc["object"], actor=alpha)
    assert updated.pk == post.pk and "test body" in updated.content and updated.edited_at is not None
    assert PostEdit.objects.filter(post=post).count() == 2


@pytest.mark.parametrize("name", ["misskey/create_note.json", "misskey/note.json"])
def test_misskey_note_uses_html_content(load_fixture, name):
    """Misskey notes: the HTML content is stored (not the MFM source), public."""
    doc = _object(load_fixture(name))
    author = _actor(doc["attributedTo"])
    post = activitypub.ap_to_post(doc, actor=author)
    assert post.content == doc["content"] and post.visibility == "public"


def test_misskey_quote_keeps_re_link(load_fixture):
    """A Misskey quote keeps its "RE:" link to the quoted note and line breaks."""
    doc = load_fixture("misskey/quote_note.json")
    author = _actor(doc["attributedTo"])
    post = activitypub.ap_to_post(doc, actor=author)
    assert 'href="https://misskey.io/notes/8vs6wxufd0"' in post.content and "<br>" in post.content


def test_pleroma_note(load_fixture):
    """Pleroma reply: context as conversation, public via to, mention of a known actor, no CW."""
    doc = load_fixture("pleroma/create_note.json")
    nutomic = _actor(doc["actor"])
    picard = _actor("https://enterprise.lemmy.ml/u/picard")
    post = activitypub.ap_to_post(doc["object"], actor=nutomic)
    assert post.conversation == "https://greenish.red/contexts/f6244742-0526-4b84-ac4f-ceadf1fb4e56"
    assert post.visibility == "public" and not post.sensitive and post.summary == ""
    assert Mention.objects.filter(post=post, actor=picard).exists()
    assert "data-user" not in post.content and "test" in post.content


def test_friendica_content_wins_over_content_map(load_fixture):
    """Friendica: ``content`` is used; its contentMap language is kept."""
    doc = load_fixture("friendica/create_note.json")
    jakob = _actor(doc["actor"])
    post = activitypub.ap_to_post(doc["object"], actor=jakob)
    assert post.content.startswith('<span class="h-card">') and post.language == "de"
    assert post.visibility == "public" and "<bdi>" not in post.content_map["de"]


def test_friendica_update_note(load_fixture):
    """Friendica Update: new text, edited_at from ``updated``, unlisted (Public in cc)."""
    doc = load_fixture("friendica/update_note.json")
    author = _actor(doc["actor"])
    original = dict(doc["object"], content="This is a comment.")
    original.pop("updated")
    activitypub.ap_to_post(original, actor=author)
    post = activitypub.ap_to_post(doc["object"], actor=author)
    assert "edited comment" in post.content and post.edited_at.isoformat().startswith("2022-03-24T21:37:34")
    assert post.visibility == "unlisted"


def test_smithereen_question_name_and_content(load_fixture):
    """Smithereen poll: Cyrillic content and name kept, three options with counts."""
    doc = load_fixture("smithereen/question.json")
    author = _actor(doc["attributedTo"])
    post = activitypub.ap_to_post(doc, actor=author)
    assert "здесь тоже" in post.content and post.name == "тестовый опрос"
    assert [o.votes_count for o in post.poll.options.all()] == [4, 4, 6]


def test_pleroma_closed_question(load_fixture):
    """A closed Pleroma poll (naive timestamp) is stored closed."""
    doc = load_fixture("pleroma/question_closed.json")
    author = _actor(doc["attributedTo"])
    post = activitypub.ap_to_post(doc, actor=author)
    assert post.poll.closed_at is not None and post.poll.expired


def test_peertube_video_is_stored_as_link(load_fixture):
    """An unknown type (PeerTube Video, attributedTo a list) is stored as its title and page link."""
    doc = load_fixture("peertube/video.json")
    person = _actor("https://tilvids.com/accounts/thelinuxexperiment")
    post = activitypub.ap_to_post(doc, actor=person)
    assert post.object_type == "Video" and post.language == "en"
    assert "Mesa, Wayland" in post.content and f'href="{doc["id"]}"' in post.content
    assert post.url == doc["id"]


def test_remote_script_is_sanitised_before_storage():
    """Scripts, event handlers and javascript: links in remote content never reach the database."""
    evil = _actor("https://evil.example/users/eve")
    doc = {
        "id": "https://evil.example/notes/1",
        "type": "Note",
        "attributedTo": evil.ap_id,
        "to": [PUBLIC],
        "summary": "<b>cw</b><script>x()</script>",
        "content": '<p onclick="x()">hi<script>alert(1)</script><a href="javascript:alert(1)">l</a><img src=x onerror=y></p>',
        "contentMap": {"en": "<script>alert(2)</script>ok"},
    }
    post = activitypub.ap_to_post(doc, actor=evil)
    stored = Post.objects.get(pk=post.pk)
    for field in (stored.content, stored.summary, str(stored.content_map)):
        assert "script" not in field and "onclick" not in field and "javascript" not in field and "onerror" not in field
    assert stored.summary == "cw" and "hi" in stored.content


def test_wrong_author_is_refused():
    """An object attributed to someone else than the given actor is refused and not stored."""
    eve = _actor("https://evil.example/users/eve")
    doc = {"id": "https://evil.example/notes/2", "type": "Note", "attributedTo": "https://evil.example/users/bob"}
    with pytest.raises(activitypub.RemotePostError):
        activitypub.ap_to_post(doc, actor=eve)
    assert not Post.objects.exists() and not Hashtag.objects.exists()


def test_to_as_string_and_content_map_only():
    """``to`` as a string and a contentMap without content are understood (zh-Hans preferred)."""
    peer = _actor("https://peer.example/users/p")
    doc = {
        "id": "https://peer.example/notes/3",
        "type": "Note",
        "attributedTo": peer.ap_id,
        "to": "as:Public",
        "contentMap": {"en": "<p>hello</p>", "zh-Hans": "<p>你好</p>"},
        "tag": {"type": "Hashtag", "name": "#Solo"},
    }
    post = activitypub.ap_to_post(doc, actor=peer)
    assert post.visibility == "public" and post.content == "<p>你好</p>" and post.language == "zh-Hans"
    assert list(post.hashtags.values_list("name", flat=True)) == ["solo"]


def test_reply_arriving_before_parent_is_adopted():
    """A reply stored before its parent is linked to it (and counted) when the parent arrives."""
    peer = _actor("https://peer.example/users/p")
    base = {"type": "Note", "attributedTo": peer.ap_id, "to": [PUBLIC], "content": "x"}
    reply = activitypub.ap_to_post(
        dict(base, id="https://peer.example/n/2", inReplyTo="https://peer.example/n/1"), actor=peer
    )
    parent = activitypub.ap_to_post(dict(base, id="https://peer.example/n/1"), actor=peer)
    reply.refresh_from_db()
    parent.refresh_from_db()
    assert reply.in_reply_to == parent and parent.replies_count == 1


# ---------------------------------------------------------------- serving documents


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_object_served_as_as2_only_when_public(client, local_member):
    """Public and unlisted posts are served as AS2; followers-only, direct and absent ids get the same 404."""
    public = services.create_post(local_member, text="hello", visibility="unlisted")
    response = client.get(_path(public.ap_id), HTTP_ACCEPT="application/activity+json")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/activity+json")
    assert response.json()["id"] == public.ap_id and response.json()["content"] == public.content
    for visibility in ("private", "direct"):
        hidden = services.create_post(local_member, text="secret", visibility=visibility)
        response = client.get(_path(hidden.ap_id), HTTP_ACCEPT="application/activity+json")
        assert response.status_code == 404 and b"secret" not in response.content
    assert client.get("/objects/nope", HTTP_ACCEPT="application/activity+json").status_code == 404


def test_object_redirects_browsers_and_tombstones_deleted(client, local_member):
    """A browser is sent to the post page; a deleted public post answers 410 with a Tombstone."""
    post = services.create_post(local_member, text="hello")
    response = client.get(_path(post.ap_id), HTTP_ACCEPT="text/html")
    assert response.status_code == 302 and response["Location"] == post.url
    services.delete_post(local_member, post)
    response = client.get(_path(post.ap_id), HTTP_ACCEPT="application/activity+json")
    assert response.status_code == 410 and response.json()["type"] == "Tombstone"
    assert "hello" not in response.content.decode()


def test_public_activity_is_served_and_private_is_not(client, local_member, django_capture_on_commit_callbacks):
    """The Create of a public post is served at its id; that of a followers-only post is a 404."""
    with django_capture_on_commit_callbacks(execute=True):
        public = services.create_post(local_member, text="hello")
        private = services.create_post(local_member, text="secret", visibility="private")
    from federation.models import OutboxActivity

    create = OutboxActivity.objects.get(object_ap_id=public.ap_id)
    response = client.get(_path(create.ap_id), HTTP_ACCEPT="application/activity+json")
    assert response.status_code == 200 and response.json()["object"]["id"] == public.ap_id
    hidden = OutboxActivity.objects.get(object_ap_id=private.ap_id)
    response = client.get(_path(hidden.ap_id), HTTP_ACCEPT="application/activity+json")
    assert response.status_code == 404 and b"secret" not in response.content


def test_timestamp_without_zone_is_utc():
    """A ``published`` without a time zone (Pleroma) is read as UTC."""
    peer = _actor("https://peer.example/users/p")
    doc = {"id": "https://peer.example/n/9", "type": "Note", "attributedTo": peer.ap_id, "to": [PUBLIC]}
    post = activitypub.ap_to_post(dict(doc, published="2019-09-18T14:32:36.802152"), actor=peer)
    assert post.published_at.isoformat() == "2019-09-18T14:32:36.802152+00:00"
