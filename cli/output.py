"""Where the CLI's output goes and how it is shaped.

On a terminal, Rich fits tables and text to the terminal's width. Anywhere else (a pipe, a
file, a test's buffer) nothing is wrapped or cropped: lines are as long as what they say,
whatever COLUMNS or the controlling terminal's size happen to be, so scripts can rely on
them. Values from the outside (names, paths, messages, details) go through `esc()` before
they meet Rich markup, so a `[server]` or a key named `[red]` prints as itself, and a control
character in them (an upstream's error text may carry escape sequences) is shown as `\x1b`,
never sent to the terminal.
"""

from __future__ import annotations

import re
import sys
from typing import NoReturn

import msgspec
import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape

# Wide enough for any line a command prints; Rich pads nothing to this width
# (tables and panels keep their natural width), it only stops wrapping.
UNWRAPPED = 100_000


def on_terminal(file) -> bool:
    """A real terminal (FORCE_COLOR may ask for colours in a pipe: still no wrapping)."""
    isatty = getattr(file, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


class _Console(Console):
    """A Rich console whose width is the terminal's on a terminal, unbounded elsewhere."""

    def _size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        return size if on_terminal(self.file) else ConsoleDimensions(UNWRAPPED, size.height)

    size = property(_size, Console.size.fset)


console = _Console()
err_console = _Console(stderr=True)


# C0 and C1 controls but tab and newline (which only break a line), and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def esc(value: object) -> str:
    """`value` as text that Rich markup prints literally and a terminal shows as text."""
    return escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value)))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` (plain text, never markup) as an error on stderr and exit."""
    err_console.print(f"[bold red]error:[/] {esc(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(value: object) -> None:
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(value), indent=2).decode() + "\n")
