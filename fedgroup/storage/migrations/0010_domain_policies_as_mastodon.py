"""Domain rules take Mastodon's shape: a severity plus reject_media/reject_reports flags, a
public comment and a private note, server-wide or for one group; allow entries get a table.

Before this, a rule was one `action`: `block`, `limit`, `reject_media` or `allow`. Each
existing rule becomes what it meant: `block` a suspension, `limit` a silence, `reject_media`
a noop rule that rejects media, and `allow` an entry of the allow list (used in allow-list
mode). The old `reason` was only ever seen by admins: it becomes the private note.

The mapping is written out here, frozen as of this migration (a migration must do the same
thing whatever the code becomes later).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from fedgroup.policy import Severity
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint


_SEVERITY = {"block": "suspend", "limit": "silence", "reject_media": "noop"}


async def _run(client, sql, values):
    """Run `sql` with `?` placeholders on either database."""
    if client.capabilities.dialect == "postgres":
        parts = sql.split("?")
        sql = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
    await client.execute_query(sql, list(values))


async def rules_as_severities(apps, schema_editor):
    client = schema_editor.client
    _, rows = await client.execute_query(
        'SELECT "id", "domain", "action", "private_note", "created_at" FROM "domain_policies" '
        'ORDER BY "id"'
    )
    for row in [dict(r) for r in rows]:
        if row["action"] == "allow":
            await _run(
                client,
                'INSERT INTO "domain_allows" ("domain", "comment", "created_at") VALUES (?, ?, ?)',
                [row["domain"], row["private_note"] or "", row["created_at"]],
            )
            await _run(client, 'DELETE FROM "domain_policies" WHERE "id" = ?', [row["id"]])
            continue
        await _run(
            client,
            'UPDATE "domain_policies" SET "severity" = ?, "reject_media" = ? WHERE "id" = ?',
            [_SEVERITY.get(row["action"], "noop"), row["action"] == "reject_media", row["id"]],
        )


class Migration(migrations.Migration):
    dependencies = [("models", "0009_reports_and_published_modlog")]

    initial = False

    operations = [
        ops.CreateModel(
            name="DomainAllow",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("domain", fields.CharField(unique=True, max_length=255)),
                ("comment", fields.TextField(default="", unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "domain_allows",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A domain (and its subdomains) this server federates with in allow-list mode.",
            },
            bases=["Model"],
        ),
        ops.AlterModelOptions(
            name="DomainPolicy",
            options={
                "table": "domain_policies",
                "app": "models",
                "unique_together": (("domain", "group"),),
                "pk_attr": "id",
                "table_description": "How this server treats a remote domain and its subdomains, server-wide (`group`",
            },
        ),
        ops.RenameField(
            model_name="DomainPolicy",
            old_name="reason",
            new_name="private_note",
        ),
        ops.AlterField(
            model_name="DomainPolicy",
            name="domain",
            field=fields.CharField(max_length=255),
        ),
        ops.AddField(
            model_name="DomainPolicy",
            name="group",
            field=fields.ForeignKeyField(
                "models.Group",
                source_field="group_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="domain_policies",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AddField(
            model_name="DomainPolicy",
            name="public_comment",
            field=fields.TextField(default="", db_default="", unique=False),
        ),
        ops.AddField(
            model_name="DomainPolicy",
            name="reject_media",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name="DomainPolicy",
            name="reject_reports",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name="DomainPolicy",
            name="severity",
            field=fields.CharEnumField(
                default=Severity.NOOP,
                description="NOOP: noop\nSILENCE: silence\nSUSPEND: suspend",
                db_default="noop",
                enum_type=Severity,
                max_length=16,
            ),
        ),
        ops.RunPython(rules_as_severities, ops.RunPython.noop),
        ops.RemoveField(model_name="DomainPolicy", name="action"),
        ops.AddConstraint(
            model_name="DomainPolicy",
            constraint=UniqueConstraint(fields=("domain", "group"), name=None),
        ),
    ]
