"""The server's own key pair: made once, shared by every process using the database."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from ..activitypub.keys import generate_rsa_key_pair
from ..storage.models import ServerKey

INSTANCE_KEY_NAME = "instance-actor"


async def ensure_instance_key() -> ServerKey:
    """Return the instance actor's key, creating it on first start.

    Two processes starting at once may both try to create it; the unique name makes one
    win and the other read the winner's row.
    """
    key = await ServerKey.get_or_none(name=INSTANCE_KEY_NAME)
    if key is not None:
        return key
    private_pem, public_pem = generate_rsa_key_pair()
    try:
        return await ServerKey.create(
            name=INSTANCE_KEY_NAME, private_key_pem=private_pem, public_key_pem=public_pem
        )
    except IntegrityError:
        return await ServerKey.get(name=INSTANCE_KEY_NAME)
