"""Join from your own server: where to send a visitor so that one click follows the group.

The visitor types their handle (or only their server) on the group's page. We ask their
server, through the one guarded fetch path, where its users follow things (the WebFinger
subscribe template), or what software it runs (NodeInfo: Lemmy-like software finds a
community from its search page). Every lookup is bounded in time, size and concurrency:
strangers can type anything here, including hosts that never answer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum

from ..activitypub.fetch import (
    BadResponse,
    FetchError,
    FetchTimeout,
    ResponseTooLarge,
    UnreachableHost,
    UnsafeURL,
)
from ..activitypub.hosts import canonical_authority
from ..activitypub.remote_follow import (
    HomeServer,
    checked_destination,
    community_search_url,
    fill_template,
    has_search_for_communities,
    parse_home,
    subscribe_template,
)
from ..activitypub.signed_fetch import Fetcher
from ..activitypub.webfinger_client import MalformedHandle, fetch_jrd
from ..storage.models import Instance
from .nodeinfo import read_software

log = logging.getLogger(__name__)

JRD_MAX_BYTES = 256 * 1024
MAX_CONCURRENT_LOOKUPS = 16


class Route(StrEnum):
    SUBSCRIBE = "subscribe"  # the server's own follow page, from its subscribe template
    SEARCH = "search"  # a Lemmy-like server's search page, which finds the community
    MANUAL = "manual"  # nothing better known: the visitor searches for the handle themselves


class Problem(StrEnum):
    """Why no route was found; the page says each in words a visitor understands."""

    MALFORMED = "malformed"  # not a handle or a server name
    PRIVATE = "private"  # names (or resolves to) an address that is not on the internet
    UNKNOWN_ACCOUNT = "unknown_account"  # the server says it has no such account
    UNREACHABLE = "unreachable"  # no answer, refused, DNS failure, TLS failure
    SLOW = "slow"  # no answer in time
    TOO_LARGE = "too_large"  # an answer bigger than any real one
    BAD_ANSWER = "bad_answer"  # an answer we cannot use (not JSON, odd redirect…)
    BUSY = "busy"  # too many lookups in flight: try again in a moment


@dataclass(frozen=True)
class FollowRoute:
    """Where to send the visitor (`url` None for MANUAL) and the server we asked."""

    route: Route
    server: str
    url: str | None = None
    knows_account: bool = False


class LookupFailed(Exception):
    """No route; `problem` is for the visitor, `reason` for the log."""

    def __init__(self, problem: Problem, reason: str, server: str | None = None) -> None:
        super().__init__(reason)
        self.problem = problem
        self.reason = reason
        self.server = server


def _problem_of(exc: FetchError) -> Problem:
    """The visitor-facing problem for a failure after their input was understood (a
    destination their server names that we refuse is a bad answer, not bad typing)."""
    if isinstance(exc, UnsafeURL):
        return Problem.PRIVATE
    if isinstance(exc, FetchTimeout):
        return Problem.SLOW
    if isinstance(exc, ResponseTooLarge):
        return Problem.TOO_LARGE
    if isinstance(exc, BadResponse) and exc.status in (404, 410):
        return Problem.UNKNOWN_ACCOUNT
    if isinstance(exc, UnreachableHost):
        return Problem.UNREACHABLE
    return Problem.BAD_ANSWER


class FollowRouter:
    """Finds follow routes for visitors, a bounded number at a time, each within `timeout`."""

    def __init__(
        self, fetcher: Fetcher, *, timeout: float, max_concurrent: int = MAX_CONCURRENT_LOOKUPS
    ) -> None:
        self._fetcher = fetcher
        self._timeout = timeout
        self._slots = asyncio.Semaphore(max_concurrent)

    async def route(self, typed: str, group_handle: str) -> FollowRoute:
        """Where `typed` (a handle or a server) should go to follow `group_handle`
        (`name@domain`); `LookupFailed` says why there is nowhere."""
        try:
            home = parse_home(typed)
        except MalformedHandle as exc:
            raise LookupFailed(Problem.MALFORMED, exc.reason) from None
        if self._slots.locked():
            raise LookupFailed(Problem.BUSY, "too many join lookups in flight", home.authority)
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._find(home, group_handle)
            except TimeoutError:
                raise LookupFailed(
                    Problem.SLOW, f"{home.authority} did not answer in time", home.authority
                ) from None
            except FetchError as exc:
                log.info("join lookup at %s failed: %s", home.authority, exc.reason)
                raise LookupFailed(_problem_of(exc), exc.reason, home.authority) from None

    async def _find(self, home: HomeServer, group_handle: str) -> FollowRoute:
        allow_private = self._fetcher.allow_private
        origin = home.origin(allow_private=allow_private)
        if home.handle is not None:
            jrd, answered_from = await fetch_jrd(
                self._fetcher.session,
                home.handle,
                allow_private=allow_private,
                max_bytes=JRD_MAX_BYTES,
                total_timeout=self._timeout,
            )
            template = subscribe_template(jrd)
            if template is not None:
                url = checked_destination(
                    fill_template(template, group_handle),
                    expected={home.authority, canonical_authority(answered_from)},
                    allow_private=allow_private,
                )
                return FollowRoute(Route.SUBSCRIBE, home.authority, url, knows_account=True)
        software = await self._software(home, origin)
        if has_search_for_communities(software):
            url = community_search_url(origin, group_handle)
            return FollowRoute(Route.SEARCH, home.authority, url, home.handle is not None)
        return FollowRoute(Route.MANUAL, home.authority, None, home.handle is not None)

    async def _software(self, home: HomeServer, origin: str) -> str | None:
        """What the server runs: known from federation already, or asked now (not stored:
        a visitor's typing must not create rows)."""
        known = await Instance.get_or_none(host=home.authority)
        if known is not None and known.software:
            return known.software
        try:
            name, _version = await read_software(self._fetcher, origin)
        except (BadResponse, ValueError):
            return None  # it answered, without a NodeInfo we can read: that is allowed
        except FetchError:
            if home.handle is None:
                raise  # a server we cannot even reach: say so
            return None  # its WebFinger answered; NodeInfo is optional
        return name
