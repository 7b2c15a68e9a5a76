"""Parsing ``!bridge …`` and ``!privacy …`` command lines, the same for both sides.

A command line is never executed as anything but a verb and its arguments: it is split
with shell-like quoting, options are ``--name value`` or ``--name=value``, and anything
malformed is a :class:`CommandSyntaxError` whose message the sender sees.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

PREFIXES = ("!bridge", "!privacy")
MAX_COMMAND_CHARS = 1000


class CommandSyntaxError(ValueError):
    """The line is a command but cannot be read; the message explains why."""


@dataclass(frozen=True)
class ParsedCommand:
    prefix: str  # "bridge" or "privacy"
    verb: str
    args: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)


def is_command(text: str) -> bool:
    """Whether ``text`` is addressed to the bridge rather than to the room."""
    stripped = text.lstrip()
    return any(
        stripped == p or stripped.startswith((p + " ", p + "\n", p + "\t")) for p in PREFIXES
    )


def parse(text: str) -> ParsedCommand:
    if not is_command(text):
        raise CommandSyntaxError("not a command")
    if len(text) > MAX_COMMAND_CHARS:
        raise CommandSyntaxError(f"command too long (at most {MAX_COMMAND_CHARS} characters)")
    try:
        tokens = shlex.split(text.strip(), posix=True)
    except ValueError as e:
        raise CommandSyntaxError(f"cannot read the command: {e}") from None
    prefix = tokens[0].removeprefix("!")
    rest = tokens[1:]
    verb = rest[0].lower() if rest else "help"
    args: list[str] = []
    options: dict[str, str] = {}
    i = 1
    while i < len(rest):
        token = rest[i]
        if token.startswith("--") and len(token) > 2:
            name, sep, value = token[2:].partition("=")
            if not sep:
                if i + 1 >= len(rest):
                    raise CommandSyntaxError(f"--{name} needs a value")
                i += 1
                value = rest[i]
            if name in options:
                raise CommandSyntaxError(f"--{name} given twice")
            options[name] = value
        else:
            args.append(token)
        i += 1
    return ParsedCommand(prefix, verb, tuple(args), options)
