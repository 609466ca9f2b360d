"""Which software a member's server runs, from its NodeInfo, fetched once and cached.

The group shapes what it sends by it: FEP-1b12 software (Lemmy, Mbin, PieFed…) gets
`Announce{Create}`, microblogging software (Mastodon, Misskey…) a boost of the object.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from ..activitypub.fetch import FetchError
from ..activitypub.hosts import authority_or_none
from ..activitypub.signed_fetch import Fetcher
from ..storage.models import Instance

log = logging.getLogger(__name__)
REFRESH_AFTER = timedelta(days=1)
_SCHEMAS = (
    "http://nodeinfo.diaspora.software/ns/schema/2.1",
    "http://nodeinfo.diaspora.software/ns/schema/2.0",
    "http://nodeinfo.diaspora.software/ns/schema/2.2",
)


def _nodeinfo_href(links_doc: object) -> str | None:
    if not isinstance(links_doc, dict) or not isinstance(links_doc.get("links"), list):
        return None
    hrefs = {
        link.get("rel"): link.get("href")
        for link in links_doc["links"]
        if isinstance(link, dict) and isinstance(link.get("href"), str)
    }
    return next((hrefs[s] for s in _SCHEMAS if s in hrefs), None)


def parse_software(doc: object) -> tuple[str | None, str | None]:
    """(name, version) from a NodeInfo document; names lower-cased as peers compare them."""
    if not isinstance(doc, dict) or not isinstance(doc.get("software"), dict):
        return None, None
    name = doc["software"].get("name")
    version = doc["software"].get("version")
    return (
        name.strip().lower()[:64] if isinstance(name, str) else None,
        version.strip()[:64] if isinstance(version, str) else None,
    )


async def read_software(fetcher: Fetcher, origin: str) -> tuple[str | None, str | None]:
    """(name, version) from the NodeInfo of the server at `origin`; `FetchError` or
    `ValueError` when it cannot be read. Nothing is stored."""
    links = json.loads((await fetcher.get_bytes(origin + "/.well-known/nodeinfo")).body)
    href = _nodeinfo_href(links)
    if href is None:
        return None, None
    return parse_software(json.loads((await fetcher.get_bytes(href)).body))


async def _fetch_software(fetcher: Fetcher, origin: str) -> tuple[str | None, str | None]:
    try:
        return await read_software(fetcher, origin)
    except (FetchError, ValueError) as exc:
        log.info("nodeinfo of %s unavailable: %s", origin, getattr(exc, "reason", exc))
        return None, None


async def learn_software(fetcher: Fetcher, actor_url: str) -> Instance:
    """The Instance row for an actor's server, with its software known if it says."""
    parts = urlsplit(actor_url)
    host = authority_or_none(actor_url) or ""
    instance, _ = await Instance.get_or_create(host=host)
    fresh = instance.nodeinfo_fetched_at and (
        datetime.now(UTC) - instance.nodeinfo_fetched_at < REFRESH_AFTER
    )
    if fresh:
        return instance
    name, version = await _fetch_software(fetcher, f"{parts.scheme}://{host}")
    instance.software = name or instance.software
    instance.software_version = version or instance.software_version
    instance.nodeinfo_fetched_at = datetime.now(UTC)
    await instance.save(update_fields=["software", "software_version", "nodeinfo_fetched_at"])
    return instance
