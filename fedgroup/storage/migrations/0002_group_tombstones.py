from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GroupTombstone',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('display_name', fields.CharField(default='', max_length=200)),
                ('delete_activity', fields.CharField(null=True, max_length=2048)),
                ('members_told', fields.IntField(default=0)),
                ('private_key_pem', fields.TextField(null=True, unique=False)),
                ('public_key_pem', fields.TextField(null=True, unique=False)),
                ('deleted_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'group_tombstones', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A deleted group: its name stays reserved and its address answers 410 Gone.'},
            bases=['Model'],
        ),
    ]
