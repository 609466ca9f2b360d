"""Group moves (FEP-7628): where a group moved, what it was, and members awaiting the Follow
of their server at the group's new address. Existing groups have moved nowhere."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from fedgroup.storage.models import MembershipState
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_moderation_log_and_held_posts')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Group',
            name='also_known_as',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Group',
            name='moved_to',
            field=fields.CharField(null=True, max_length=2048),
        ),
        ops.AlterField(
            model_name='Membership',
            name='state',
            field=fields.CharEnumField(description='PENDING: pending\nACCEPTED: accepted\nMOVED: moved', enum_type=MembershipState, max_length=16),
        ),
    ]
