"""A resolver with a fixed table, so tests can give loopback instances real-looking names.

Hand it to `make_client_session(resolver=...)`: the SSRF guard then sees the addresses the
table names (e.g. `evil.example` -> 10.0.0.5), exactly as it would see a real DNS answer.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from aiohttp.abc import AbstractResolver, ResolveResult


class StaticResolver(AbstractResolver):
    """Answers from `table` (name -> address or list of addresses); unknown names fail."""

    def __init__(self, table: Mapping[str, str | list[str]] | None = None) -> None:
        self.table: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        for name, addresses in (table or {}).items():
            self.add(name, addresses)

    def add(self, name: str, addresses: str | list[str]) -> None:
        """Map `name` to one or more addresses (replacing what it had)."""
        self.table[name.lower()] = [addresses] if isinstance(addresses, str) else list(addresses)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        addresses = self.table.get(host.lower().rstrip("."))
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the test DNS table")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None
