"""Subcommands of the `isnad` CLI; each module defines `register(subparsers)` and sets `run`."""

from __future__ import annotations

import argparse


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Let --data-dir and --config also follow the subcommand (`isnad index PATH --data-dir DIR`)."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="index directory (default: data, or ISNAD_DATA_DIR)",
    )
    parser.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML file overriding config/isnad.toml"
    )
