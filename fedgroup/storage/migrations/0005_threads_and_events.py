"""Threads (FEP-7888 contexts), publication times, the outbox's announce and event times.

Posts stored before this get their thread: the first post of their `inReplyTo` chain within
the same group (a post whose parent is elsewhere starts a thread), and their publication
time is taken as their arrival. Their `context` stays empty, which means the group's own
thread collection.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

async def _run(client, sql, values):
    """Run `sql` with `?` placeholders on either database."""
    if client.capabilities.dialect == "postgres":
        parts = sql.split("?")
        sql = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
    await client.execute_query(sql, list(values))


async def give_posts_their_threads(apps, schema_editor):
    client = schema_editor.client
    await client.execute_query(
        'UPDATE "objects" SET "published" = "created_at" WHERE "published" IS NULL'
    )
    _, rows = await client.execute_query(
        'SELECT "id", "ap_id", "group_id", "in_reply_to" FROM "objects" '
        'WHERE "group_id" IS NOT NULL ORDER BY "id"'
    )
    rows = [dict(row) for row in rows]
    by_key = {(row["group_id"], row["ap_id"]): row for row in rows}

    def root_of(row):
        seen = {row["id"]}
        while True:
            parent = by_key.get((row["group_id"], row["in_reply_to"]))
            if parent is None or parent["id"] in seen:
                return row["id"]
            seen.add(parent["id"])
            row = parent

    for row in rows:
        await _run(client, 'UPDATE "objects" SET "thread_id" = ? WHERE "id" = ?', [root_of(row), row["id"]])


class Migration(migrations.Migration):
    dependencies = [('models', '0004_conversation_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='StoredObject',
            name='announce_id',
            field=fields.CharField(null=True, max_length=2048),
        ),
        ops.AddField(
            model_name='StoredObject',
            name='context',
            field=fields.CharField(null=True, max_length=2048),
        ),
        ops.AddField(
            model_name='StoredObject',
            name='ends_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='StoredObject',
            name='published',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='StoredObject',
            name='starts_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='StoredObject',
            name='thread_id',
            field=fields.IntField(null=True),
        ),
        ops.AddIndex(
            model_name='StoredObject',
            index=Index(fields=['group_id', 'thread_id']),
        ),
        ops.AddIndex(
            model_name='StoredObject',
            index=Index(fields=['group_id', 'starts_at']),
        ),
        ops.RunPython(give_posts_their_threads, ops.RunPython.noop),
    ]
