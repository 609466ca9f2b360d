"""The server's own identity for outbound requests: its key pair (made once, shared by every
process using the database), its User-Agent, and the one way a process builds its Fetcher,
so the server and the admin CLI fetch remote documents alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from tortoise.exceptions import IntegrityError

from .. import __version__
from ..activitypub.actors import instance_actor_url
from ..activitypub.jsonparse import DEFAULT_LIMITS, JsonLimits
from ..activitypub.keys import generate_rsa_key_pair
from ..activitypub.netguard import make_client_session
from ..activitypub.signed_fetch import Fetcher
from ..config import Settings
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


def user_agent(settings: Settings) -> str:
    """What our outbound requests call themselves, with where to learn who we are."""
    return f"fedgroup/{__version__} (+{settings.base_url})"


def instance_fetcher(
    settings: Settings,
    session: aiohttp.ClientSession,
    key: ServerKey,
    *,
    json_limits: JsonLimits = DEFAULT_LIMITS,
) -> Fetcher:
    """The guarded, signed GET path for `session`, signing as the instance actor."""
    return Fetcher(
        session=session,
        allow_private=settings.allow_private_network,
        max_bytes=settings.max_fetch_bytes,
        key_id=instance_actor_url(settings.base_url) + "#main-key",
        private_key_pem=key.private_key_pem,
        json_limits=json_limits,
    )


@asynccontextmanager
async def open_fetcher(settings: Settings) -> AsyncIterator[Fetcher]:
    """A Fetcher with its own session, for a process that is not the server (the admin CLI)."""
    session = make_client_session(
        allow_private=settings.allow_private_network, user_agent=user_agent(settings)
    )
    try:
        yield instance_fetcher(settings, session, await ensure_instance_key())
    finally:
        await session.close()
