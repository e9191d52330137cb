"""The `isnad` command line: global options, then one subcommand per module in cli/commands."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

from cli import commands
from indexer.errors import IsnadError
from indexer.settings import SettingsError, load_settings


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Settings after config file, environment and the global --data-dir flag."""
    return load_settings(args.config, {"data.dir": args.data_dir})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="isnad", description="Search and cited question answering over Arabic news."
    )
    parser.add_argument("--config", metavar="FILE", help="TOML file overriding config/isnad.toml")
    parser.add_argument(
        "--data-dir", metavar="DIR", help="index directory (default: data, or ISNAD_DATA_DIR)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def undecodable_argument(argv: Sequence[str]) -> str | None:
    """Why an argument cannot be used, when one is not UTF-8 text (Python hands such bytes over as lone
    surrogates, which no store, model or terminal accepts), else None."""
    for position, argument in enumerate(argv, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            return (
                f"argument {position} ({os.fsencode(argument)!r}) is not UTF-8 text; type it in a UTF-8 "
                "terminal, or rename a file whose name is in another encoding"
            )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    problem = undecodable_argument(argv)
    if problem:
        print(f"isnad: {problem}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    # Subcommands may also take --data-dir after their name; both spellings land here.
    try:
        settings = settings_from_args(args)
        return int(args.run(args, settings) or 0)
    except SettingsError as error:
        print(f"isnad: configuration error: {error}", file=sys.stderr)
        return 2
    except IsnadError as error:
        print(f"isnad: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("isnad: interrupted; run the same command again to continue.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
