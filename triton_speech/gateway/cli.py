"""``python -m triton_speech.gateway keys ...``: make, list and revoke API keys in the gateway's database
(``DATABASE_URL``), and the address ``make app`` prints for the page."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import sys

from triton_speech.gateway.database import Database
from triton_speech.gateway.keys import KeyProblem, KeyStore
from triton_speech.gateway.settings import GatewaySettings

WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def keys_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.gateway keys",
                                     description="API keys of the gateway in DATABASE_URL's database.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create", help="make a key and print it (shown this once)").add_argument("name")
    commands.add_parser("list", help="the keys: id, name, first characters, made, revoked")
    commands.add_parser("revoke", help="revoke a key by name or id").add_argument("name_or_id")
    args = parser.parse_args(argv)
    database = Database(GatewaySettings().database_url)
    try:
        database.migrate()
        store = KeyStore(database)
        if args.command == "create":
            row, key = store.create(args.name)
            print(key)
            print(f"key {row.id} ({row.name}) made: send it as 'Authorization: Bearer {row.prefix}...'; it is shown "
                  "only now", file=sys.stderr)
        elif args.command == "list":
            for row in store.list():
                revoked = f"revoked {row.revoked_at:%Y-%m-%d %H:%M:%S}" if row.revoked_at else "active"
                print(f"{row.id}\t{row.name}\t{row.prefix}...\tmade {row.created_at:%Y-%m-%d %H:%M:%S}\t{revoked}")
        else:
            row = store.revoke(args.name_or_id)
            print(f"key {row.id} ({row.name}) revoked")
    except KeyProblem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    finally:
        database.close()
    return 0


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serving_settings(settings: GatewaySettings, host: str) -> GatewaySettings:
    """The settings with the address the gateway listens on among the allowed hosts (unless a wildcard)."""
    if host in WILDCARD_HOSTS or host in settings.allowed_hosts:
        return settings
    return dataclasses.replace(settings, allowed_hosts=(*settings.allowed_hosts, host))


def page_address(settings: GatewaySettings, host: str, port: int) -> str:
    """Where a person opens the page. On loopback without anonymous access, with the local key after ``#key=``
    (the page keeps it and sends it; the part after # never leaves the browser), as Jupyter prints its token."""
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/"
    if settings.anonymous or not is_loopback(host):
        return address
    database = Database(settings.database_url)
    try:
        database.migrate()
        return f"{address}#key={KeyStore(database).local_key(settings.local_key_file)}"
    finally:
        database.close()


@contextlib.contextmanager
def riva_endpoint(settings: GatewaySettings, host: str):
    """The Riva gRPC API beside the REST API, for as long as the block runs, checking the same API keys (none with
    anonymous access)."""
    from triton_speech.riva import serve_riva
    from triton_speech.riva.auth import bearer

    if settings.anonymous:
        with serve_riva(settings.triton_url, host) as server:
            yield server
        return
    database = Database(settings.database_url)
    try:
        with serve_riva(settings.triton_url, host, authenticate=bearer(KeyStore(database).verify)) as server:
            yield server
    finally:
        database.close()
