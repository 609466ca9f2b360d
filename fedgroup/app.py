"""The application factory: wires storage, the one HTTP client session, routes and workers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from .activitypub import ldworker
from .activitypub.netguard import make_client_session
from .app_keys import (
    CONNECTION_GUARD,
    FOLLOW_ROUTER,
    HTTP_CLIENT,
    QUEUES_HERE,
    RUNTIME,
    SETTINGS,
    WORKER_STATUS,
)
from .config import Settings
from .pipeline.claims import release_claims_of_dead_predecessor
from .pipeline.intake import json_limits, ld_limits
from .runtime import Runtime
from .service.cache_epochs import watch_epochs
from .service.instance import ensure_instance_key, instance_fetcher, user_agent
from .service.joining import FollowRouter
from .storage.db import close_database, open_database
from .web import discovery, feeds, groups, inbox, instance, objects, pages, threads
from .web.connections import ConnectionGuard, limits_from
from .web.middleware import access_logging, forwarded_headers, security_headers
from .web.templating import content_security_policy, setup_pages
from .worker_process import WorkerStatus, start_queue_workers


async def _database(app: web.Application) -> AsyncIterator[None]:
    await open_database(app[SETTINGS].database_url)
    yield
    await close_database()


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    session = make_client_session(
        allow_private=settings.allow_private_network,
        user_agent=user_agent(settings),
        per_host_limit=settings.delivery_per_host,
    )
    app[HTTP_CLIENT] = session
    yield
    await session.close()


async def _runtime(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # Made here, before any worker process starts, so only one process ever creates it
    # (and `ensure_instance_key` copes with a concurrent creator anyway).
    key = await ensure_instance_key()
    fetcher = instance_fetcher(settings, app[HTTP_CLIENT], key, json_limits=json_limits(settings))
    queues_here = app[QUEUES_HERE]
    if queues_here:
        # Only the process that claims rows may release leftover claims: in separate mode
        # they are the worker process's, released when it starts (worker_process.py).
        await release_claims_of_dead_predecessor(settings.database_url)
    ldworker.configure(ld_limits(settings))
    ldworker.warm_up(ld_limits(settings))
    runtime = Runtime(instance_key=key, fetcher=fetcher)
    app[RUNTIME] = runtime
    app[FOLLOW_ROUTER] = FollowRouter(fetcher, timeout=settings.join_lookup_timeout)
    runtime.start("inbox-writer", runtime.inbox_writer.run)
    runtime.start("cache-epochs", watch_epochs)
    if queues_here:
        start_queue_workers(runtime, settings, app[HTTP_CLIENT])
    yield
    await runtime.stop()


def create_app(settings: Settings, *, queues_here: bool = True) -> web.Application:
    """Build the aiohttp application; nothing touches the network until it starts.

    Serve it with `web.connections.listen`, so that every connection goes through its
    `CONNECTION_GUARD` (read timeouts, connection caps). With `queues_here` (the default,
    what in-process tests use) it also runs the inbound, delivery and housekeeping workers;
    `fedgroup serve` in separate mode leaves them to its worker process."""
    guard = ConnectionGuard(limits_from(settings))
    app = web.Application(
        middlewares=[
            guard.middleware(),
            forwarded_headers,
            access_logging,
            security_headers(content_security_policy(settings)),
        ],
        client_max_size=settings.max_inbox_bytes,
    )
    app[SETTINGS] = settings
    app[CONNECTION_GUARD] = guard
    app[QUEUES_HERE] = queues_here
    if not queues_here:
        app[WORKER_STATUS] = WorkerStatus()
    app.cleanup_ctx.extend([_database, _http_client, _runtime])
    app.add_routes(discovery.routes)
    app.add_routes(instance.routes)
    app.add_routes(groups.routes)
    app.add_routes(inbox.routes)
    app.add_routes(objects.routes)
    app.add_routes(pages.routes)
    app.add_routes(feeds.routes)
    app.add_routes(threads.routes)
    setup_pages(app, settings)
    return app
