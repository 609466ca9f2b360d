from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from fedgroup.storage.models import HeldState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_threads_and_events')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HeldPost',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('group', fields.ForeignKeyField('models.Group', source_field='group_id', db_constraint=True, to_field='id', related_name='held_posts', on_delete=OnDelete.CASCADE)),
                ('actor_url', fields.CharField(max_length=2048)),
                ('object_id', fields.CharField(max_length=2048)),
                ('activity', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('object', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reason', fields.TextField(default='', unique=False)),
                ('state', fields.CharEnumField(default=HeldState.HELD, description='HELD: held\nAPPROVED: approved\nREJECTED: rejected', enum_type=HeldState, max_length=16)),
                ('decided_by', fields.CharField(null=True, max_length=2048)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'held_posts', 'app': 'models', 'unique_together': (('group', 'object_id'),), 'indexes': [Index(fields=['group_id', 'state'])], 'pk_attr': 'id', 'table_description': "A member's post kept back for a moderator instead of being announced."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ModlogEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('group', fields.ForeignKeyField('models.Group', source_field='group_id', null=True, db_constraint=True, to_field='id', related_name='modlog', on_delete=OnDelete.CASCADE)),
                ('moderator', fields.CharField(max_length=2048)),
                ('action', fields.CharField(max_length=32)),
                ('target', fields.CharField(default='', max_length=2048)),
                ('reason', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'modlog', 'app': 'models', 'indexes': [Index(fields=['group_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One moderation decision: who took it, what it was, on what, why and when.'},
            bases=['Model'],
        ),
    ]
