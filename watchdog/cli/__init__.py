"""The `watchdog` command line (commands.py: the parser and every command)."""

from .commands import build_parser, main
from .summary import summarize

__all__ = ["build_parser", "main", "summarize"]
