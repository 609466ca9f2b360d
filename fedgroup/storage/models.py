"""Tortoise models: what the server must remember across restarts.

Storage knows nothing of HTTP or ActivityPub semantics: it keeps rows. Every change to a
model ships a migration in `fedgroup/storage/migrations/` and a test that upgrades a database
made by the schema before it (see README, "Schema migrations").
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from ..policy import Severity


class Visibility(StrEnum):
    PUBLIC = "public"
    MEMBERS_ONLY = "members_only"


class MembershipMode(StrEnum):
    OPEN = "open"
    APPROVAL = "approval"


class MembershipState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    # Imported with a group that moved here: a member at its old address, accepted as soon
    # as their server follows the new one (their consent to the move), and sent nothing
    # before that.
    MOVED = "moved"


class ActivityState(StrEnum):
    """Where an inbound activity stands in the processing queue."""

    RECEIVED = "received"
    DONE = "done"
    FAILED = "failed"


class DeliveryState(StrEnum):
    QUEUED = "queued"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DROPPED = "dropped"
    FAILED = "failed"


class PolicyAction(StrEnum):
    """Domain rules before migration 0010 (which made them `Severity` and flags); kept
    because migration 0001 names it."""

    BLOCK = "block"
    LIMIT = "limit"
    ALLOW = "allow"
    REJECT_MEDIA = "reject_media"


class Group(Model):
    """A community hosted here, an ActivityPub Group actor."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=200, default="")
    summary = fields.TextField(default="")
    rules = fields.TextField(default="")
    visibility = fields.CharEnumField(Visibility, max_length=16, default=Visibility.PUBLIC)
    membership_mode = fields.CharEnumField(
        MembershipMode, max_length=16, default=MembershipMode.OPEN
    )
    posting_restricted_to_mods = fields.BooleanField(default=False)
    publish_members = fields.BooleanField(default=False)
    discoverable = fields.BooleanField(default=True)
    # The moderation log on the group's page: shown at all, and with moderators' names.
    publish_modlog = fields.BooleanField(default=False, db_default=False)
    modlog_names_moderators = fields.BooleanField(default=False, db_default=False)
    icon = fields.BinaryField(null=True)
    icon_media_type = fields.CharField(max_length=64, null=True)
    image = fields.BinaryField(null=True)
    image_media_type = fields.CharField(max_length=64, null=True)
    private_key_pem = fields.TextField()
    public_key_pem = fields.TextField()
    # A group that moved (FEP-7628): its new actor, which its members' servers follow.
    moved_to = fields.CharField(max_length=2048, null=True)
    # A group that moved here: its former actors, which the new home must name for the
    # members' servers to accept the Move.
    also_known_as = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "groups"


class GroupTombstone(Model):
    """A deleted group: its name stays reserved and its address answers 410 Gone.

    Until every member's server has been sent the group's `Delete` (delivered, or given up
    on), the tombstone keeps the group's key pair: the Delete is signed with it and receivers
    may fetch the key to verify it. `settled_at` marks the moment the keys were wiped.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=200, default="")
    delete_activity = fields.CharField(max_length=2048, null=True)
    members_told = fields.IntField(default=0)
    private_key_pem = fields.TextField(null=True)
    public_key_pem = fields.TextField(null=True)
    deleted_at = fields.DatetimeField(auto_now_add=True)
    settled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "group_tombstones"


class ServerKey(Model):
    """Key pairs of server-level actors (the instance actor signs our fetches)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    private_key_pem = fields.TextField()
    public_key_pem = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "server_keys"


class Instance(Model):
    """A remote server: what software it runs and whether it is answering."""

    id = fields.IntField(primary_key=True)
    host = fields.CharField(max_length=255, unique=True)
    software = fields.CharField(max_length=64, null=True)
    software_version = fields.CharField(max_length=64, null=True)
    nodeinfo_fetched_at = fields.DatetimeField(null=True)
    signature_scheme = fields.CharField(max_length=16, null=True)
    first_failure_at = fields.DatetimeField(null=True)
    unreachable_since = fields.DatetimeField(null=True)
    last_success_at = fields.DatetimeField(null=True)

    class Meta:
        table = "instances"


class RemoteActor(Model):
    """A cached remote actor document: where to deliver and which keys it signs with."""

    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=2048, unique=True)
    type = fields.CharField(max_length=32, default="Person")
    preferred_username = fields.CharField(max_length=255, null=True)
    host = fields.CharField(max_length=255, db_index=True)
    inbox = fields.CharField(max_length=2048)
    shared_inbox = fields.CharField(max_length=2048, null=True)
    document = fields.JSONField(default=dict)
    fetched_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "remote_actors"


class RemoteKey(Model):
    """A remote public key by its key id, and the actor whose document lists it."""

    id = fields.IntField(primary_key=True)
    key_id = fields.CharField(max_length=2048, unique=True)
    owner = fields.CharField(max_length=2048, db_index=True)
    public_key = fields.TextField()
    fetched_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "remote_keys"


class Membership(Model):
    """A remote actor's relation to a group: pending approval or accepted."""

    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="memberships", on_delete=fields.CASCADE
    )
    actor: fields.ForeignKeyRelation[RemoteActor] = fields.ForeignKeyField(
        "models.RemoteActor", related_name="memberships", on_delete=fields.CASCADE
    )
    state = fields.CharEnumField(MembershipState, max_length=16)
    follow_activity = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "memberships"
        unique_together = (("group", "actor"),)


class Ban(Model):
    """A banned actor or domain, in one group or (group NULL) on the whole server."""

    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyNullableRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="bans", null=True, on_delete=fields.CASCADE
    )
    actor_url = fields.CharField(max_length=2048, null=True)
    domain = fields.CharField(max_length=255, null=True)
    reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    # A ban for N days (`bans add --days N`) no longer applies after this.
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "bans"


class Activity(Model):
    """Every activity we received or sent, stored before anything acts on it.

    Inbound rows are the durable processing queue (state), outbound rows are what the
    delivery rows point at and what GET on our activity ids serves.
    """

    id = fields.IntField(primary_key=True)
    ap_id = fields.CharField(max_length=2048, unique=True)
    type = fields.CharField(max_length=32)
    actor = fields.CharField(max_length=2048)
    object_id = fields.CharField(max_length=2048, null=True, db_index=True)
    inbound = fields.BooleanField()
    group: fields.ForeignKeyNullableRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="activities", null=True, on_delete=fields.CASCADE
    )
    payload = fields.JSONField()
    public = fields.BooleanField(default=False)
    state = fields.CharEnumField(ActivityState, max_length=16, default=ActivityState.RECEIVED)
    attempts = fields.IntField(default=0)
    process_after = fields.DatetimeField(null=True)
    claimed_until = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "activities"
        indexes = (("inbound", "state", "process_after"),)


class StoredObject(Model):
    """A post, comment or other object shared in a group, as received and as rendered."""

    id = fields.IntField(primary_key=True)
    ap_id = fields.CharField(max_length=2048, unique=True)
    type = fields.CharField(max_length=32)
    attributed_to = fields.CharField(max_length=2048, db_index=True)
    group: fields.ForeignKeyNullableRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="objects", null=True, on_delete=fields.CASCADE
    )
    in_reply_to = fields.CharField(max_length=2048, null=True)
    content_html = fields.TextField(default="")
    document = fields.JSONField()
    deleted = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    # The thread: the id of its first post here, and the `context` the group announces it
    # under (FEP-7888): the group's thread collection, or the root author's own.
    thread_id = fields.IntField(null=True)
    context = fields.CharField(max_length=2048, null=True)
    # When the author says it was written (clamped to arrival): threads read in this order.
    published = fields.DatetimeField(null=True)
    # The group's latest wrapped Announce of it (Create or Update): what the outbox lists.
    announce_id = fields.CharField(max_length=2048, null=True)
    # Events only: when it starts and ends, for the upcoming-events collection and feed.
    starts_at = fields.DatetimeField(null=True)
    ends_at = fields.DatetimeField(null=True)
    # Moderation: removed by a moderator (restorable, unlike `deleted` by its author), a
    # locked thread refuses replies, a pinned post is in the group's `featured` collection.
    removed = fields.BooleanField(default=False, db_default=False)
    locked = fields.BooleanField(default=False, db_default=False)
    pinned_at = fields.DatetimeField(null=True)

    class Meta:
        table = "objects"
        # A group's conversation starters (in_reply_to NULL) and the answers to a post,
        # newest first by id: what group and post pages ask on every visit. A thread's
        # posts, and a group's events by start, are asked by the collections.
        indexes = (
            ("group_id", "in_reply_to"),
            ("group_id", "thread_id"),
            ("group_id", "starts_at"),
        )


class Delivery(Model):
    """One outbound activity to one inbox: the row says where that delivery stands."""

    id = fields.IntField(primary_key=True)
    activity: fields.ForeignKeyRelation[Activity] = fields.ForeignKeyField(
        "models.Activity", related_name="deliveries", on_delete=fields.CASCADE
    )
    inbox = fields.CharField(max_length=2048)
    host = fields.CharField(max_length=255, db_index=True)
    state = fields.CharEnumField(DeliveryState, max_length=16, default=DeliveryState.QUEUED)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    claimed_until = fields.DatetimeField(null=True)
    last_status = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "deliveries"
        unique_together = (("activity", "inbox"),)
        indexes = (("state", "next_attempt_at"),)


class DomainPolicy(Model):
    """How this server treats a remote domain and its subdomains, server-wide (`group`
    NULL) or in one group: Mastodon's domain blocks (fedgroup.policy decides with them).

    `public_comment` may be shown to anyone (it is what Mastodon exports); `private_note`
    is for admins only."""

    id = fields.IntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    group: fields.ForeignKeyNullableRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="domain_policies", null=True, on_delete=fields.CASCADE
    )
    severity = fields.CharEnumField(
        Severity, max_length=16, default=Severity.NOOP, db_default=Severity.NOOP.value
    )
    reject_media = fields.BooleanField(default=False, db_default=False)
    reject_reports = fields.BooleanField(default=False, db_default=False)
    public_comment = fields.TextField(default="", db_default="")
    private_note = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "domain_policies"
        unique_together = (("domain", "group"),)


class DomainAllow(Model):
    """A domain (and its subdomains) this server federates with in allow-list mode."""

    id = fields.IntField(primary_key=True)
    domain = fields.CharField(max_length=255, unique=True)
    comment = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "domain_allows"


class ModlogEntry(Model):
    """One moderation decision: who took it, what it was, on what, why and when.

    `group` is NULL for server-wide decisions (a domain policy, a server ban). `moderator`
    is `admin` for the admin CLI, or the actor URL of the moderator whose activity did it.
    """

    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyNullableRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="modlog", null=True, on_delete=fields.CASCADE
    )
    moderator = fields.CharField(max_length=2048)
    action = fields.CharField(max_length=32)
    target = fields.CharField(max_length=2048, default="")
    reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "modlog"
        indexes = (("group_id", "id"),)


class HeldState(StrEnum):
    HELD = "held"
    APPROVED = "approved"
    REJECTED = "rejected"


class HeldPost(Model):
    """A member's post kept back for a moderator instead of being announced.

    The Create and the post are kept as received (the post as its origin served it), so an
    approval announces exactly what would have gone out had it not been held.
    """

    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="held_posts", on_delete=fields.CASCADE
    )
    actor_url = fields.CharField(max_length=2048)
    object_id = fields.CharField(max_length=2048)
    activity = fields.JSONField()
    object = fields.JSONField()
    reason = fields.TextField(default="")
    state = fields.CharEnumField(HeldState, max_length=16, default=HeldState.HELD)
    decided_by = fields.CharField(max_length=2048, null=True)
    decided_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "held_posts"
        unique_together = (("group", "object_id"),)
        indexes = (("group_id", "state"),)


class Moderator(Model):
    """A fediverse actor who moderates a group: listed in its `moderators` collection (which
    its `attributedTo` names, as Lemmy reads it), and whose moderation activities the group
    carries out."""

    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="moderators", on_delete=fields.CASCADE
    )
    actor_url = fields.CharField(max_length=2048)
    added_by = fields.CharField(max_length=2048, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "moderators"
        unique_together = (("group", "actor_url"),)


class ReportState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Report(Model):
    """A `Flag` about a group's post or member: who reported what, and why.

    `objects` are the reported ids as the Flag named them (posts, and the account when the
    reporter's software names it); `author` is the reported person. `forward` records that the
    reporter asked for the author's server to be told (the Flag was addressed to the author),
    `forwarded_at` that the group did.
    """

    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="reports", on_delete=fields.CASCADE
    )
    flag_id = fields.CharField(max_length=2048, unique=True)
    reporter = fields.CharField(max_length=2048)
    author = fields.CharField(max_length=2048, default="")
    objects = fields.JSONField(default=list)
    reason = fields.TextField(default="")
    flag = fields.JSONField()
    forward = fields.BooleanField(default=False)
    forwarded_at = fields.DatetimeField(null=True)
    state = fields.CharEnumField(ReportState, max_length=16, default=ReportState.OPEN)
    resolved_by = fields.CharField(max_length=2048, null=True)
    resolved_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reports"
        indexes = (("group_id", "state"),)


class CacheEpoch(Model):
    """A counter per in-memory cache (`fedgroup.caching`), bumped by whoever changes what
    that cache holds: the server's other processes and the admin CLI share no memory, so a
    server sees a change made elsewhere when it reads a new epoch (every second)."""

    name = fields.CharField(max_length=32, primary_key=True)
    epoch = fields.IntField(default=0)

    class Meta:
        table = "cache_epochs"
