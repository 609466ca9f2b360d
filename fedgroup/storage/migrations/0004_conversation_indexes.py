from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_canonical_hosts')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='StoredObject',
            index=Index(fields=['group_id', 'in_reply_to']),
        ),
    ]
