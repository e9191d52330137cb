"""`isnad keys create|list|revoke`: the API keys of a data directory (writes need a write key)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.commands import add_common_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keys",
        help="create, list and revoke API keys",
        description="API keys for `Authorization: Bearer <key>`. Keys are stored "
        "only as salted hashes in DATA_DIR/keys.sqlite3.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a key and print it (once: it cannot be shown again)")
    create.add_argument(
        "--scope",
        choices=("read", "write"),
        required=True,
        help="read: search, ask, read articles; write: also add, replace and delete articles",
    )
    create.add_argument("--name", default=None, help="a name to list and revoke it by (default: key-<id>)")
    add_common_options(create)
    listing = actions.add_parser("list", help="name, scope, created and last used of every key")
    listing.add_argument("--json", action="store_true", help="print the keys as a JSON array")
    add_common_options(listing)
    revoke = actions.add_parser("revoke", help="revoke a key by name; requests with it get 401 at once")
    revoke.add_argument("name", metavar="NAME")
    add_common_options(revoke)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from indexer.keys import ApiKeyError, KeyStore

    store = KeyStore(settings["data.dir"])
    try:
        if args.action == "create":
            key, secret = store.create(args.scope, args.name)
            print(secret)
            print(
                f"isnad keys: created {key.scope} key {key.name!r}; it is shown only now, keep it safe",
                file=sys.stderr,
            )
        elif args.action == "list":
            keys = store.list()
            if args.json:
                print(
                    json.dumps(
                        [
                            {"name": k.name, "scope": k.scope, "created": k.created, "last_used": k.last_used}
                            for k in keys
                        ],
                        ensure_ascii=False,
                    )
                )
            elif not keys:
                print(f"no keys in {settings['data.dir']}; make one with `isnad keys create --scope write`")
            else:
                print(f"{'name':<24} {'scope':<6} {'created':<26} last used")
                for k in keys:
                    print(f"{k.name:<24} {k.scope:<6} {k.created:<26} {k.last_used or 'never'}")
        else:
            store.revoke(args.name)
            print(f"revoked key {args.name!r}")
    except ApiKeyError as error:
        print(f"isnad keys: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0
