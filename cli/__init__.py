"""The `isnad` command line: the outermost layer, which may use every other package."""

from cli.main import main

__all__ = ["main"]
