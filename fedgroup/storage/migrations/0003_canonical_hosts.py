"""Rewrite every stored host and domain in its one canonical spelling.

Before this, domain rules and bans were stored as typed (lower-cased, port and trailing dot
dropped, but Unicode names kept as Unicode), actor rows kept the URL's netloc as written
(default ports, Unicode), and instance rows were keyed by two different spellings. The code
now compares canonical hosts only (fedgroup/activitypub/hosts.py), so a rule stored as
`bücher.example` would never match `xn--bcher-kva.example` again: the rows are rewritten.

Rows that collapse into one (two spellings of one domain) are merged: the strictest domain
rule wins, duplicate bans go, instance rows keep what either knew.

The canonical rule is copied here, frozen as of this migration (storage must not import the
protocol layer, and a migration must do the same thing whatever the code becomes later).
"""

import ipaddress
from urllib.parse import urlsplit

import idna
from tortoise import migrations
from tortoise.migrations import operations as ops

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Strictest first: two spellings of one domain with different rules keep the stricter one.
_STRICTNESS = ["block", "limit", "reject_media", "allow"]


def _canonical_name(host):
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        ip = None
    if ip is not None:
        return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False).rstrip(".")
        name = idna.encode(mapped, uts46=False).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    return name if name and len(name) <= 253 else None


def _canonical(value, *, keep_port):
    """Canonical host (or host[:port] with `keep_port`) of a URL or bare host; None if none."""
    text = (value or "").strip()
    if "://" in text:
        parts = urlsplit(text)
        scheme, netloc = parts.scheme.lower(), parts.netloc.rsplit("@", 1)[-1]
    else:
        scheme, netloc = "", text.split("/", 1)[0]
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif netloc.count(":") == 1:
        host, port = netloc.split(":")
    else:
        host, port = netloc, ""
    name = _canonical_name(host) if host else None
    if name is None or (port and not (port.isascii() and port.isdigit())):
        return None
    if not keep_port or not port or _DEFAULT_PORTS.get(scheme) == int(port):
        return name
    return f"{name}:{int(port)}"


async def _rows(client, sql):
    _, rows = await client.execute_query(sql)
    return [dict(row) for row in rows]


async def _run(client, sql, values):
    """Run `sql` with `?` placeholders on either database."""
    if client.capabilities.dialect == "postgres":
        parts = sql.split("?")
        sql = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
    await client.execute_query(sql, list(values))


def _strictness(row):
    action = row["action"]
    return _STRICTNESS.index(action) if action in _STRICTNESS else len(_STRICTNESS)


async def _domain_policies(client):
    # Spellings of one domain canonicalize alike, and canonical names are their own canonical
    # form: a row may only collide with rows of its own group, which go first.
    groups = {}
    for row in await _rows(client, 'SELECT "id", "domain", "action" FROM "domain_policies" ORDER BY "id"'):
        domain = _canonical(row["domain"], keep_port=False)
        if domain is not None:
            groups.setdefault(domain, []).append(row)
    for domain, rows in groups.items():
        winner = min(rows, key=_strictness)
        for loser in rows:
            if loser is not winner:
                await _run(client, 'DELETE FROM "domain_policies" WHERE "id" = ?', [loser["id"]])
        if winner["domain"] != domain:
            await _run(client, 'UPDATE "domain_policies" SET "domain" = ? WHERE "id" = ?', [domain, winner["id"]])


async def _bans(client):
    seen = set()
    for row in await _rows(client, 'SELECT "id", "group_id", "domain" FROM "bans" WHERE "domain" IS NOT NULL ORDER BY "id"'):
        domain = _canonical(row["domain"], keep_port=False)
        if domain is None:
            continue
        if (row["group_id"], domain) in seen:
            await _run(client, 'DELETE FROM "bans" WHERE "id" = ?', [row["id"]])
            continue
        seen.add((row["group_id"], domain))
        if domain != row["domain"]:
            await _run(client, 'UPDATE "bans" SET "domain" = ? WHERE "id" = ?', [domain, row["id"]])


async def _remote_actors(client):
    for row in await _rows(client, 'SELECT "id", "url", "host" FROM "remote_actors"'):
        host = _canonical(row["url"], keep_port=True)
        if host is not None and host != row["host"]:
            await _run(client, 'UPDATE "remote_actors" SET "host" = ? WHERE "id" = ?', [host, row["id"]])


async def _deliveries(client):
    # The old spelling was already scheme-aware about ports: one UPDATE per distinct host.
    for row in await _rows(client, 'SELECT DISTINCT "host" FROM "deliveries"'):
        host = _canonical(row["host"], keep_port=True)
        if host is not None and host != row["host"]:
            await _run(client, 'UPDATE "deliveries" SET "host" = ? WHERE "host" = ?', [host, row["host"]])


def _merged(rows):
    """One instance row's fields from several spellings of it: what any of them knew."""
    latest_info = max(rows, key=lambda r: str(r["nodeinfo_fetched_at"] or ""))
    merged = {
        "software": latest_info["software"],
        "software_version": latest_info["software_version"],
        "nodeinfo_fetched_at": latest_info["nodeinfo_fetched_at"],
        "signature_scheme": next((r["signature_scheme"] for r in rows if r["signature_scheme"]), None),
        "last_success_at": max((r["last_success_at"] for r in rows if r["last_success_at"]), default=None),
    }
    # Failing only if every spelling was failing: a success under any name proves it alive.
    failing = all(r["first_failure_at"] for r in rows)
    merged["first_failure_at"] = min(r["first_failure_at"] for r in rows) if failing else None
    down = all(r["unreachable_since"] for r in rows)
    merged["unreachable_since"] = min(r["unreachable_since"] for r in rows) if down else None
    return merged


async def _instances(client):
    groups = {}
    for row in await _rows(client, 'SELECT * FROM "instances" ORDER BY "id"'):
        host = _canonical(row["host"], keep_port=True)
        if host is not None:
            groups.setdefault(host, []).append(row)
    for host, rows in groups.items():
        keep = rows[0]
        if len(rows) == 1 and keep["host"] == host:
            continue
        for extra in rows[1:]:
            await _run(client, 'DELETE FROM "instances" WHERE "id" = ?', [extra["id"]])
        fields = _merged(rows) if len(rows) > 1 else {}
        fields["host"] = host
        names = list(fields)
        assignments = ", ".join(f'"{name}" = ?' for name in names)
        await _run(client, f'UPDATE "instances" SET {assignments} WHERE "id" = ?', [*fields.values(), keep["id"]])


async def canonicalize_hosts(apps, schema_editor):
    client = schema_editor.client
    await _domain_policies(client)
    await _bans(client)
    await _remote_actors(client)
    await _deliveries(client)
    await _instances(client)


class Migration(migrations.Migration):
    dependencies = [("models", "0002_group_tombstones")]

    operations = [ops.RunPython(canonicalize_hosts, ops.RunPython.noop)]
