"""Our own server, running for real on a loopback port with a real SQLite file."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from aiohttp import web

from fedgroup.activitypub.keys import generate_rsa_key_pair
from fedgroup.app import create_app
from fedgroup.app_keys import CONNECTION_GUARD
from fedgroup.config import Settings, load_settings
from fedgroup.storage.models import Group, MembershipMode, Visibility
from fedgroup.web.connections import listen, runner_options

from .template_db import fresh_database


class FedgroupServer:
    """`async with FedgroupServer(tmp_path) as server:` — the app served on 127.0.0.1."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        environ = {
            "FEDGROUP_BASE_URL": f"http://127.0.0.1:{self.port}",
            "FEDGROUP_DATABASE_URL": f"sqlite://{fresh_database(tmp_path / 'fedgroup.sqlite3')}",
            "FEDGROUP_ALLOW_PRIVATE_NETWORK": "1",
            "FEDGROUP_PORT": str(self.port),
        }
        environ.update({f"FEDGROUP_{k.upper()}": str(v) for k, v in settings.items()})
        self.settings: Settings = load_settings(environ=environ)
        self.app = create_app(self.settings)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def url(self, path: str) -> str:
        return self.settings.url(path)

    def group_url(self, name: str) -> str:
        return self.url(f"/groups/{name}")

    async def __aenter__(self) -> FedgroupServer:
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            shutdown_timeout=0.5,
            **runner_options(self.settings),
        )
        await self._runner.setup()
        self._listener = await listen(self._runner, self._sock, self.app[CONNECTION_GUARD])
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def create_group(
        self, name: str, *, approval: bool = False, members_only: bool = False, **fields: Any
    ) -> Group:
        return await create_group(name, approval=approval, members_only=members_only, **fields)


async def create_group(
    name: str, *, approval: bool = False, members_only: bool = False, **fields: Any
) -> Group:
    """A group row with its keys in the open database: what `group create` makes, without
    a CLI process (a benchmark prepares a real server's database with it before starting)."""
    private_pem, public_pem = generate_rsa_key_pair()
    return await Group.create(
        name=name,
        display_name=fields.pop("display_name", name.title()),
        membership_mode=MembershipMode.APPROVAL if approval else MembershipMode.OPEN,
        visibility=Visibility.MEMBERS_ONLY if members_only else Visibility.PUBLIC,
        private_key_pem=private_pem,
        public_key_pem=public_pem,
        **fields,
    )
