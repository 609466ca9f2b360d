from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from fedgroup.storage.models import ReportState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_moderators_removals_pins_locks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Report',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('group', fields.ForeignKeyField('models.Group', source_field='group_id', db_constraint=True, to_field='id', related_name='reports', on_delete=OnDelete.CASCADE)),
                ('flag_id', fields.CharField(unique=True, max_length=2048)),
                ('reporter', fields.CharField(max_length=2048)),
                ('author', fields.CharField(default='', max_length=2048)),
                ('objects', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reason', fields.TextField(default='', unique=False)),
                ('flag', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('forward', fields.BooleanField(default=False)),
                ('forwarded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('state', fields.CharEnumField(default=ReportState.OPEN, description='OPEN: open\nRESOLVED: resolved', enum_type=ReportState, max_length=16)),
                ('resolved_by', fields.CharField(null=True, max_length=2048)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reports', 'app': 'models', 'indexes': [Index(fields=['group_id', 'state'])], 'pk_attr': 'id', 'table_description': "A `Flag` about a group's post or member: who reported what, and why."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Group',
            name='modlog_names_moderators',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Group',
            name='publish_modlog',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
