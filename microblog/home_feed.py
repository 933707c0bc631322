"""The home-timeline read path (see :mod:`microblog.timelines` for the semantics): a recent
window with a row budget, then per-author top-N when the window does not fill the page.

Why both (bench B7, 1M posts, readers following 500 of 20k authors):

- A plain ``JOIN follow ... ORDER BY id DESC LIMIT 20`` walks the primary key backwards until
  it has 20 matches: ~1 ms for a reader whose follows post often, but most of the table
  (seconds) for a reader whose follows posted only long ago.
- Per-author top-N (one probe of the ``(author, -id)`` index per followed account) is flat in
  the sparse case but costs ``followed`` index descents even when the newest rows would do.

So: look only at the newest ``HOME_WINDOW`` ids (a bounded scan); if they hold the page, done.
Otherwise take each followed author's latest visible post in range (one single-row probe per
author), keep the ``N`` newest of those — the page can only hold posts of those ``N`` authors,
none older than the ``N``-th of those posts — and read each of them down to that id
(``≤ N × N`` rows).

The page is one SQL statement on PostgreSQL: the followed set is a CTE (never a round trip
of its own), the window and the per-author pass are both in it with the latter behind a
one-time filter on the window's count (so dense readers never run it), and the candidate ids
feed a hand-written load of the posts with their authors and boosted posts, run as a
server-side prepared statement (planning it cost more than running it). Mastodon's
post-filters (replies to accounts the reader does not follow, boosts of hidden authors, and
suspended authors) read columns of that same statement. SQLite, in-process, runs the window
and, when needed, the per-author statement (correlated subqueries, a materialised CTE).
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils import timezone

from federation.models import Actor, ActorBlock, Follow, FollowState
from microblog.models import Mention, Mute, Post, Visibility

HOME_WINDOW = 2000  # newest ids the first pass looks at (its row budget)
UNBOUNDED = 2**62  # above any id
PREPARED = True  # PostgreSQL: run the page statement as a server-side prepared statement

POST = Post._meta.db_table
MENTION = Mention._meta.db_table
FOLLOW = Follow._meta.db_table
ACTOR = Actor._meta.db_table
MUTE = Mute._meta.db_table
BLOCK = ActorBlock._meta.db_table
ACCEPTED = FollowState.ACCEPTED.value


def relations(viewer_id: int | None) -> tuple[set[int], set[int]]:
    """(accepted follow targets, hidden actors) of a viewer, in one query. Hidden = muted
    (unexpired), blocked by the viewer, blocking the viewer, blocked node-wide, or a followed
    account that is suspended."""
    params: list[Any] = []
    sql = f"SELECT target_id, 1 FROM {BLOCK} WHERE owner_id IS NULL"  # noqa: S608
    if viewer_id is not None:
        sql = f"""
            SELECT f.target_id, CASE WHEN a.suspended THEN 1 ELSE 0 END
                FROM {FOLLOW} f JOIN {ACTOR} a ON a.id = f.target_id
                WHERE f.follower_id = %s AND f.state = %s
            UNION ALL SELECT target_id, 1 FROM {MUTE}
                WHERE owner_id = %s AND (expires_at IS NULL OR expires_at > %s)
            UNION ALL SELECT target_id, 1 FROM {BLOCK} WHERE owner_id = %s OR owner_id IS NULL
            UNION ALL SELECT owner_id, 1 FROM {BLOCK} WHERE target_id = %s AND owner_id IS NOT NULL
        """  # noqa: S608
        params = [viewer_id, ACCEPTED, viewer_id, timezone.now(), viewer_id, viewer_id]
    followed: set[int] = set()
    hidden: set[int] = set()
    with connection.cursor() as cur:
        cur.execute(sql, params)
        for actor_id, kind in cur.fetchall():
            (hidden if kind else followed).add(actor_id)
    return followed, hidden


class _Sql:
    """A statement being built: text and parameters appended in step."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, text: str, *params: Any) -> _Sql:
        self.parts.append(text)
        self.params.extend(params)
        return self

    @property
    def text(self) -> str:
        return " ".join(self.parts)


def _authors(sql: _Sql, viewer_id: int) -> None:
    """The home authors of a viewer as a subquery: accepted follows not muted (unexpired) nor
    blocked either way (or node-wide), plus the viewer. (Suspended authors are dropped by the
    post-filter: joining the actor table here made PostgreSQL scan it.)"""
    sql.add(
        f"SELECT f.target_id FROM {FOLLOW} f WHERE f.follower_id = %s AND f.state = %s "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {MUTE} m WHERE m.owner_id = %s AND m.target_id = f.target_id "
        "AND (m.expires_at IS NULL OR m.expires_at > %s)) "
        f"AND NOT EXISTS (SELECT 1 FROM {BLOCK} b WHERE b.target_id = f.target_id "
        "AND (b.owner_id = %s OR b.owner_id IS NULL)) "
        f"AND NOT EXISTS (SELECT 1 FROM {BLOCK} c WHERE c.owner_id = f.target_id AND c.target_id = %s) "
        "UNION ALL SELECT %s",
        viewer_id,
        ACCEPTED,
        viewer_id,
        timezone.now(),
        viewer_id,
        viewer_id,
        viewer_id,
    )


def _visible(sql: _Sql, viewer_id: int) -> None:
    """What a reader sees of a home author's posts: not deleted; direct only when mentioned
    (or its own). Followers-only is fine: home authors are accepted follows."""
    sql.add(
        "p.deleted_at IS NULL AND (p.visibility <> %s OR p.author_id = %s OR EXISTS ("  # noqa: S608
        f"SELECT 1 FROM {MENTION} m WHERE m.post_id = p.id AND m.actor_id = %s))",
        Visibility.DIRECT.value,
        viewer_id,
        viewer_id,
    )


def window_sql(viewer_id: int, lo: int, hi: int | None, n: int, desc: bool, *, cte: bool = False) -> _Sql:
    """Ids of the ``n`` newest (``desc``) or oldest home posts among the ``HOME_WINDOW`` ids
    next to the page boundary: below ``hi`` (or the newest id), or above ``lo``. With ``cte``
    the home authors come from an ``authors`` CTE of the enclosing statement."""
    # "OR p.author_id IS NULL" (never true) keeps PostgreSQL from turning the IN into a
    # nested-loop semi-join over the author list: as a filter it becomes one hashed subplan,
    # built once, probed per row of the backward primary-key scan.
    sql = _Sql().add(f"SELECT p.id FROM {POST} p WHERE (p.author_id IN (")  # noqa: S608
    if cte:
        sql.add("SELECT author FROM authors")
    else:
        _authors(sql, viewer_id)
    sql.add(") OR p.author_id IS NULL")
    if not desc:
        sql.add(") AND p.id > %s AND p.id < %s AND", lo, min(hi or UNBOUNDED, lo + HOME_WINDOW))
    elif hi is None:  # the newest page: the window ends at the newest id, found in the same query
        # One lower bound (not two conditions): SQLite uses only one of them as the range.
        greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
        sql.add(f") AND p.id > {greatest}(%s, (SELECT MAX(id) FROM {POST}) - %s) AND", lo, HOME_WINDOW)  # noqa: S608
    else:
        sql.add(") AND p.id > %s AND p.id < %s AND", max(lo, hi - HOME_WINDOW), hi)
    _visible(sql, viewer_id)
    return sql.add(f"ORDER BY p.id {'DESC' if desc else 'ASC'} LIMIT %s", n)


def _probe(viewer_id: int, lo: int, hi: int, order: str) -> _Sql:
    """One author's newest/oldest visible post in (lo, hi): a single-row index probe."""
    probe = _Sql().add(
        f"SELECT p.id FROM {POST} p WHERE p.author_id = a.author AND p.id > %s AND p.id < %s AND",  # noqa: S608
        lo,
        hi,
    )
    _visible(probe, viewer_id)
    return probe.add(f"ORDER BY p.id {order} LIMIT 1")


def per_author_sql(viewer_id: int, lo: int, hi: int, n: int, desc: bool, *, window: _Sql | None = None) -> _Sql:
    """(PostgreSQL) Ids of the ``n`` newest (``desc``) or oldest home posts in (lo, hi),
    reading one row per home author plus at most ``n`` rows for each of ``n`` authors (see the
    module docstring). With ``window`` (a ``window_sql(..., cte=True)``) both passes are one
    statement: the window's ids when it holds ``n``, else the per-author result, which sits
    behind a one-time filter on the window's count so it is not run when the window suffices."""
    order = "DESC" if desc else "ASC"
    sql = _Sql().add("WITH authors(author) AS MATERIALIZED (")
    _authors(sql, viewer_id)
    gate = ""
    if window is not None:
        sql.add("), w AS (").add(window.text, *window.params)
        gate = f"WHERE (SELECT COUNT(*) FROM w) < {int(n)}"  # noqa: S608
    probe = _probe(viewer_id, lo, hi, order)
    # LATERAL: one probe per author; authors without a post drop out of the join.
    sql.add("), edges AS (SELECT a.author AS author, e.id AS id FROM authors a CROSS JOIN LATERAL (")
    sql.add(probe.text, *probe.params).add(f") AS e {gate} ORDER BY e.id {order} LIMIT %s)", n)
    # The page lies at or beyond the n-th author's edge post (when there are n authors).
    if desc:
        bound = "CASE WHEN COUNT(*) >= %s THEN MIN(id) - 1 ELSE %s END AS lo, %s AS hi"
        sql.add(f", bound AS (SELECT {bound} FROM edges)", n, lo, hi)  # noqa: S608
    else:
        bound = "%s AS lo, CASE WHEN COUNT(*) >= %s THEN MAX(id) + 1 ELSE %s END AS hi"
        sql.add(f", bound AS (SELECT {bound} FROM edges)", lo, n, hi)  # noqa: S608
    if window is not None:
        sql.add(f"SELECT id FROM w WHERE (SELECT COUNT(*) FROM w) >= {int(n)} UNION ALL SELECT id FROM (")  # noqa: S608
    sql.add("SELECT t.id FROM edges CROSS JOIN bound CROSS JOIN LATERAL (")
    sql.add(f"SELECT p.id FROM {POST} p WHERE p.author_id = edges.author AND p.id > bound.lo AND p.id < bound.hi AND")  # noqa: S608
    _visible(sql, viewer_id)
    sql.add(f"ORDER BY p.id {order} LIMIT %s) AS t ORDER BY t.id {order} LIMIT %s", n, n)
    if window is not None:
        sql.add(") AS pa")
    return sql


def per_author_sqlite(viewer_id: int, lo: int, hi: int, n: int, desc: bool) -> _Sql:
    """(SQLite, no LATERAL) The same result as :func:`per_author_sql`: the edge posts come
    from correlated probes now (in-process, no round trip), and the returned statement reads
    each of the ``n`` edge authors down to the threshold, one branch per author."""
    order = "DESC" if desc else "ASC"
    sql = _Sql().add("WITH authors(author) AS (")
    _authors(sql, viewer_id)
    probe = _probe(viewer_id, lo, hi, order)
    sql.add("), ranked AS MATERIALIZED (SELECT a.author AS author, (").add(probe.text, *probe.params)
    sql.add(f") AS id FROM authors a ORDER BY id IS NULL, id {order} LIMIT %s)", n)
    sql.add("SELECT author, id FROM ranked WHERE id IS NOT NULL")
    with connection.cursor() as cur:
        cur.execute(sql.text, sql.params)
        edges = cur.fetchall()
    if len(edges) >= n:  # the page lies at or beyond the n-th author's edge post
        lo, hi = (edges[-1][1] - 1, hi) if desc else (lo, edges[-1][1] + 1)
    out = _Sql()
    for i, (author, _) in enumerate(edges or [(0, 0)]):
        out.add(("UNION ALL " if i else "") + f"SELECT t{i}.id FROM (SELECT p.id FROM {POST} p")  # noqa: S608
        out.add("WHERE p.author_id = %s AND p.id > %s AND p.id < %s AND", author, lo, hi)
        _visible(out, viewer_id)
        out.add(f"ORDER BY p.id {order} LIMIT %s) AS t{i}", n)
    return out.add(f"ORDER BY 1 {order} LIMIT %s", n)


class _Rows:
    """Builds model instances from raw columns the way the ORM does (``from_db`` plus the
    backend's converters), so the page loads in one hand-written statement: compiling the
    equivalent ORM query cost more CPU than running it."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.names = [f.attname for f in self.fields]
        self.converters: list[tuple[int, list[Any], Any]] = []
        for i, field in enumerate(self.fields):
            col = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
            if found:
                self.converters.append((i, found, col))

        self._columns: dict[str, str] = {}

    def columns(self, alias: str) -> str:
        if alias not in self._columns:
            self._columns[alias] = ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in self.fields)
        return self._columns[alias]

    def build(self, values: list[Any]) -> Any:
        for i, found, col in self.converters:
            for convert in found:
                values[i] = convert(values[i], col, connection)
        return self.model.from_db(connection.alias, self.names, values)


_ROWS: dict[tuple[str, str], _Rows] = {}


def _rows(model: Any) -> _Rows:
    key = (connection.vendor, model.__name__)
    if key not in _ROWS:
        _ROWS[key] = _Rows(model)
    return _ROWS[key]


def _fetch(sql: _Sql) -> list[tuple]:
    """Run the page statement. On PostgreSQL as a server-side prepared statement (psycopg
    prepares it from its fifth run on): planning this statement costs more than running it,
    and Django's default client-side binding would plan it on every read. (Behind a
    transaction-pooling PgBouncer older than 1.21 set ``PREPARED = False``.)"""
    if connection.vendor == "postgresql" and PREPARED:
        import psycopg

        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cur:
            cur.execute(sql.text, sql.params)
            return cur.fetchall()
    with connection.cursor() as cur:
        cur.execute(sql.text, sql.params)
        return cur.fetchall()


def _load(viewer_id: int, candidates: _Sql, desc: bool) -> list[Post]:
    """The candidate posts with their author, boosted post and its author, and what the home
    post-filters need (parent's author and whether it is followed; whether the boosted
    author is followed or hidden) — one statement."""
    posts, actors = _rows(Post), _rows(Actor)
    follow = f"SELECT 1 FROM {FOLLOW} fw WHERE fw.follower_id = %s AND fw.state = %s AND fw.target_id = "  # noqa: S608
    sql = _Sql().add(
        f"SELECT {posts.columns('p')}, {actors.columns('a')}, {posts.columns('r')}, {actors.columns('ra')}, "  # noqa: S608
        f"par.author_id, EXISTS ({follow}par.author_id), EXISTS ({follow}r.author_id), "
        f"(EXISTS (SELECT 1 FROM {MUTE} mu WHERE mu.owner_id = %s AND mu.target_id = r.author_id "
        "AND (mu.expires_at IS NULL OR mu.expires_at > %s)) "
        f"OR EXISTS (SELECT 1 FROM {BLOCK} bl WHERE bl.target_id = r.author_id "
        "AND (bl.owner_id = %s OR bl.owner_id IS NULL)) "
        f"OR EXISTS (SELECT 1 FROM {BLOCK} bb WHERE bb.owner_id = r.author_id AND bb.target_id = %s)) "
        f"FROM {POST} p JOIN {ACTOR} a ON a.id = p.author_id "
        f"LEFT JOIN {POST} r ON r.id = p.reblog_of_id LEFT JOIN {ACTOR} ra ON ra.id = r.author_id "
        f"LEFT JOIN {POST} par ON par.id = p.in_reply_to_id WHERE p.id IN (",
        viewer_id,
        ACCEPTED,
        viewer_id,
        ACCEPTED,
        viewer_id,
        timezone.now(),
        viewer_id,
        viewer_id,
    )
    sql.add(candidates.text, *candidates.params).add(f") ORDER BY p.id {'DESC' if desc else 'ASC'}")
    np, na = len(posts.fields), len(actors.fields)
    out = []
    rows = _fetch(sql)
    for row in rows:
        values = list(row)
        post = posts.build(values[:np])
        post.author = actors.build(values[np : np + na])
        reblog = None
        if values[np + na] is not None:
            reblog = posts.build(values[np + na : 2 * np + na])
            reblog.author = actors.build(values[2 * np + na : 2 * (np + na)])
        post.reblog_of = reblog
        parent_author, parent_followed, original_followed, original_hidden = values[2 * (np + na) :]
        post.in_reply_to_author_id = parent_author
        post.parent_author_followed = bool(parent_followed)
        post.original_author_followed = bool(original_followed)
        post.original_hidden = bool(original_hidden)
        out.append(post)
    return out


def _keep(post: Any, viewer_id: int) -> bool:
    """Mastodon's home filters (``FeedManager#filter_from_home``) on a loaded candidate."""
    if post.author_id == viewer_id:
        return True
    if post.author.suspended:
        return False
    original = post.reblog_of
    if original is not None:
        if original.deleted_at is not None or post.original_hidden or original.author.suspended:
            return False
        return (
            original.visibility in (Visibility.PUBLIC, Visibility.UNLISTED)
            or original.author_id == viewer_id
            or post.original_author_followed
            or original.audience_id == post.author_id  # a group carrying a post to its members
        )
    if post.in_reply_to_id is None and not post.in_reply_to_ap_id:
        return True
    parent_author = post.in_reply_to_author_id
    if parent_author is None:  # reply to a post we do not have: Mastodon filters these too
        return False
    return parent_author in (post.author_id, viewer_id) or post.parent_author_followed


def read(
    viewer_id: int, *, max_id: int | None, since_id: int | None, min_id: int | None, limit: int, rounds: int
) -> list[Post]:
    """The home page of ``viewer_id`` (see ``timelines.home``), newest first. When post-filters
    drop rows the page is refilled from where the last read stopped, at most ``rounds`` times."""
    desc = min_id is None
    lo = (min_id if min_id is not None else since_id) or 0
    hi = max_id
    out: list[Post] = []
    for _ in range(rounds):
        if hi is not None and hi - lo <= 1:
            break
        # A little over-fetch: the post-filters usually drop a row or two (replies to
        # accounts the reader does not follow), and a refill costs a whole extra read.
        want = limit - len(out) + 2 + limit // 10
        covered = hi is not None and hi - lo <= HOME_WINDOW
        if connection.vendor == "postgresql" and not covered:  # one round trip either way
            window = window_sql(viewer_id, lo, hi, want, desc, cte=True)
            posts = _load(viewer_id, per_author_sql(viewer_id, lo, hi or UNBOUNDED, want, desc, window=window), desc)
        else:  # SQLite runs in-process: two statements cost no round trip
            posts = _load(viewer_id, window_sql(viewer_id, lo, hi, want, desc), desc)
            if len(posts) < want and not covered:
                posts = _load(viewer_id, per_author_sqlite(viewer_id, lo, hi or UNBOUNDED, want, desc), desc)
        out += [p for p in posts if _keep(p, viewer_id)]
        if len(posts) < want or len(out) >= limit:
            break
        if desc:
            hi = posts[-1].pk
        else:
            lo = posts[-1].pk
    out = out[:limit]
    if not desc:
        out.reverse()
    return out
