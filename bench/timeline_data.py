"""The B7/B11 data set (see ``bench.b7_timeline``): schema straight from the models (so it
carries exactly the ``Meta.indexes`` of the checkout, whatever state migrations are in) and
rows generated inside the database with ``INSERT ... SELECT`` over a number series.

The database is a cache: a one-row ``bench_b7_meta`` table holds a fingerprint (data-set
version, size, the indexes of the tables read); a mismatch rebuilds everything.
Runs inside Django (the driver process), never imported by the harness itself.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections.abc import Callable
from typing import Any

N_AUTHORS = 20_000
QUIET_AUTHORS = 1_000
READERS = 30
FOLLOWS = 500
VERSION = 3
HASH = "((i * 2654435761) % 4294967296)"  # Knuth's multiplicative hash, same in both databases


def _log(message: str) -> None:
    print(f"[b7 data] {message}", file=sys.stderr, flush=True)


def fingerprint(n_posts: int) -> str:
    """Version, size and the index/constraint definitions of the tables the timelines read."""
    from federation.models import Actor, ActorBlock, Follow
    from microblog.models import Mention, Mute, Post

    parts = [f"v{VERSION}", str(n_posts)]
    for model in (Actor, ActorBlock, Follow, Mention, Mute, Post):
        meta = model._meta
        parts += [repr(i.deconstruct()) for i in meta.indexes]
        parts += [c.name for c in meta.constraints]
        parts += [f.column for f in meta.concrete_fields if f.db_index or f.unique]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _stored_fingerprint() -> str | None:
    from django.db import connection

    if "bench_b7_meta" not in connection.introspection.table_names():
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT fingerprint FROM bench_b7_meta")
        row = cur.fetchone()
    return row[0] if row else None


def _check_bench_database() -> None:
    """Refuse to drop anything but the bench's own database (a wrong DATABASE_URL must not
    wipe a node's data)."""
    from django.db import connection

    name = str(connection.settings_dict["NAME"])
    ours = name == "redcloud_bench_b7" if connection.vendor == "postgresql" else "/var/bench/b7-" in name
    if not ours:
        raise RuntimeError(f"refusing to rebuild {name!r}: not a B7 bench database")


def _reset_schema() -> None:
    from django.db import connection

    _check_bench_database()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("DROP SCHEMA public CASCADE")
            cur.execute("CREATE SCHEMA public")
        else:
            cur.execute("PRAGMA foreign_keys = OFF")
            for table in connection.introspection.table_names():
                cur.execute(f'DROP TABLE IF EXISTS "{table}"')
            cur.execute("PRAGMA foreign_keys = ON")


def _create_schema() -> None:
    from django.apps import apps
    from django.db import connection

    models = [m for config in apps.get_app_configs() for m in config.get_models()]  # as syncdb does
    with connection.schema_editor() as editor:
        for model in models:
            editor.create_model(model)


def _series(lo: int, hi: int) -> tuple[str, str]:
    """(prefix, FROM clause) giving a column ``i`` over lo..hi in this database."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return "", f"FROM generate_series({int(lo)}, {int(hi)}) AS s(i)"
    prefix = f"WITH RECURSIVE s(i) AS (SELECT {int(lo)} UNION ALL SELECT i + 1 FROM s WHERE i < {int(hi)}) "  # noqa: S608
    return prefix, "FROM s"


def insert_series(model: Any, lo: int, hi: int, overrides: dict[str, str]) -> None:
    """Insert rows ``lo..hi`` of ``model``: ``overrides`` maps columns to SQL expressions of
    ``i``; other columns get the field default (NULL when nullable, now for timestamps)."""
    from django.db import connection
    from django.db.models import DateTimeField
    from django.utils import timezone

    columns, exprs, params = [], [], []
    for field in model._meta.concrete_fields:
        columns.append(connection.ops.quote_name(field.column))
        if field.column in overrides:
            exprs.append(overrides[field.column].replace("%", "%%"))  # modulo, not a placeholder
        elif field.has_default():
            exprs.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
        elif field.null:
            exprs.append("NULL")
        elif isinstance(field, DateTimeField):
            exprs.append("%s")
            params.append(field.get_db_prep_save(timezone.now(), connection))
        elif field.get_internal_type() in ("CharField", "TextField", "URLField"):
            exprs.append("''")
        else:
            raise ValueError(f"no value for {model.__name__}.{field.name}")
    prefix, source = _series(lo, hi)
    sql = f"{prefix}INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(exprs)} {source}"
    with connection.cursor() as cur:
        cur.execute(sql, params)


def _post_columns(quiet_posts: int) -> dict[str, str]:
    active = N_AUTHORS - QUIET_AUTHORS
    url = "'https://bench.example/p/' || i"
    return {
        "id": "i",
        "ap_id": url,
        "url": url,
        "local": "(i % 10 = 0)",
        "author_id": (
            f"CASE WHEN i <= {quiet_posts} THEN {active} + ((i - 1) % {QUIET_AUTHORS}) + 1 "
            f"ELSE ({HASH} % {active}) + 1 END"
        ),
        "visibility": (
            "CASE WHEN i % 100 = 0 THEN 'direct' WHEN i % 100 <= 5 THEN 'private' "
            "WHEN i % 100 <= 15 THEN 'unlisted' ELSE 'public' END"
        ),
        "content": "'<p>bench post ' || i || '</p>'",
        "source": "'bench post ' || i",
        "deleted_at": "CASE WHEN i % 100 = 42 THEN CURRENT_TIMESTAMP ELSE NULL END",
        "in_reply_to_id": "CASE WHEN i % 100 = 77 THEN i - 1 ELSE NULL END",
        "in_reply_to_ap_id": "CASE WHEN i % 100 = 77 THEN 'https://bench.example/p/' || (i - 1) ELSE '' END",
        # i - 69 is ≡ 50, 70, 90, 10 or 30 (mod 100): public or unlisted, never itself a boost
        "reblog_of_id": f"CASE WHEN i % 20 = 19 AND i > {quiet_posts + 100} THEN i - 69 ELSE NULL END",
    }


def readers() -> tuple[list[int], list[int]]:
    """(dense reader actor ids, sparse reader actor ids)."""
    dense = list(range(N_AUTHORS + 1, N_AUTHORS + READERS + 1))
    return dense, list(range(N_AUTHORS + READERS + 1, N_AUTHORS + 2 * READERS + 1))


def _follows() -> list[tuple[int, int]]:
    active = range(1, N_AUTHORS - QUIET_AUTHORS + 1)
    quiet = range(N_AUTHORS - QUIET_AUTHORS + 1, N_AUTHORS + 1)
    dense, sparse = readers()
    pairs = []
    for group, pool in ((dense, active), (sparse, quiet)):
        for reader in group:
            rng = random.Random(reader)
            pairs += [(reader, target) for target in rng.sample(pool, FOLLOWS)]
    return pairs


def build(n_posts: int) -> None:
    """Drop everything, create the schema from the models, generate the rows, analyse."""
    from django.db import connection, transaction
    from django.utils import timezone

    from federation.models import Actor, Follow
    from microblog.models import Post

    _reset_schema()
    _create_schema()
    total_actors = N_AUTHORS + 2 * READERS
    insert_series(
        Actor,
        1,
        total_actors,
        {
            "id": "i",
            "ap_id": "'https://bench.example/a/' || i",
            "local": f"(i % 10 = 0 OR i > {N_AUTHORS})",
            "username": "'a' || i",
            "domain": "'bench.example'",
        },
    )
    now = timezone.now()
    Follow.objects.bulk_create(
        [Follow(follower_id=f, target_id=t, state="accepted", state_changed_at=now) for f, t in _follows()],
        batch_size=5000,
    )
    quiet_posts = max(QUIET_AUTHORS, n_posts // 50)
    columns = _post_columns(quiet_posts)
    step = 100_000
    for lo in range(1, n_posts + 1, step):
        hi = min(n_posts, lo + step - 1)
        with transaction.atomic():
            insert_series(Post, lo, hi, columns)
        _log(f"posts {hi:,}/{n_posts:,}")
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            for model in (Actor, Post, Follow):
                table = model._meta.db_table
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")  # noqa: S608
            cur.execute("VACUUM ANALYZE")
        else:
            cur.execute("ANALYZE")
        cur.execute("CREATE TABLE bench_b7_meta (fingerprint varchar(64))")
        cur.execute("INSERT INTO bench_b7_meta VALUES (%s)", [fingerprint(n_posts)])


def ensure_dataset(n_posts: int) -> float | None:
    """Reuse the data set if its fingerprint matches, else build it; seconds spent building."""
    if _stored_fingerprint() == fingerprint(n_posts):
        return None
    _log(f"building the data set ({n_posts:,} posts)")
    start = time.perf_counter()
    build(n_posts)
    return round(time.perf_counter() - start, 1)


def count_queries(fn: Callable[[], Any]) -> int:
    """Number of SQL statements ``fn`` runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)
