from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_domain_policies_as_mastodon')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CacheEpoch',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('epoch', fields.IntField(default=0)),
            ],
            options={'table': 'cache_epochs', 'app': 'models', 'pk_attr': 'name', 'table_description': 'A counter per in-memory cache (`fedgroup.caching`), bumped by whoever changes what'},
            bases=['Model'],
        ),
    ]
