from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_group_moves')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Moderator',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('group', fields.ForeignKeyField('models.Group', source_field='group_id', db_constraint=True, to_field='id', related_name='moderators', on_delete=OnDelete.CASCADE)),
                ('actor_url', fields.CharField(max_length=2048)),
                ('added_by', fields.CharField(default='', max_length=2048)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'moderators', 'app': 'models', 'unique_together': (('group', 'actor_url'),), 'pk_attr': 'id', 'table_description': 'A fediverse actor who moderates a group: listed in its `moderators` collection (which'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Ban',
            name='expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='StoredObject',
            name='locked',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='StoredObject',
            name='pinned_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='StoredObject',
            name='removed',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
