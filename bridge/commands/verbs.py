"""One spec per ``!privacy`` and ``!bridge`` verb: its arguments, options, authorization
rule, help and handler, in one place.

The model is mautrix-python's ``command_handler`` decorator (``mautrix/bridge/commands/
handler.py``): a handler is declared with everything the dispatcher, the authorization
check and the help text need, and a verb cannot exist without them. :func:`handles`
attaches a :class:`Verb` to the method that runs it; :class:`Catalogue` collects them
from the handler classes, refuses a verb declared twice, and answers the dispatcher's
questions (which verb, are its arguments right, what does the help say).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bridge.commands.authz import Rule
from bridge.commands.parser import ParsedCommand

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REQUEST_ID = re.compile(r"^er-[0-9a-f]{16}$")
# Help lines: the usage in a column of this width, the explanation after it.
_COLUMN = 32

Check = Callable[[ParsedCommand], str | None]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Verb:
    """Everything about one verb but its code.

    ``forms`` are the ways to type it (the first is the main one); ``help`` says what it
    does, for the person reading ``!privacy help``; ``admin`` puts it in the admins' part
    of the help. ``args`` bounds the positional arguments; any option not in ``options``
    is a usage error, never ignored; ``check`` adds what the counts cannot say.
    """

    name: str
    forms: tuple[str, ...]
    help: str
    rule: Rule
    args: tuple[int, int] = (0, 0)
    options: frozenset[str] = frozenset()
    check: Check | None = field(default=None, compare=False)
    admin: bool = False
    rank: int = 50  # place in the help (lower first)
    prefix: str = "privacy"

    @property
    def usage(self) -> str:
        return "  |  ".join(self.forms)

    def problem(self, cmd: ParsedCommand) -> str | None:
        """Why ``cmd`` is not a valid use of this verb, or None."""
        low, high = self.args
        if not low <= len(cmd.args) <= high:
            return "wrong number of arguments"
        unknown = set(cmd.options) - self.options
        if unknown:
            return f"unknown option --{sorted(unknown)[0][:40]}"
        before = cmd.options.get("before")
        if before is not None and not _DATE.match(before):
            return "--before needs a date like 2026-01-31"
        return None if self.check is None else self.check(cmd)

    def usage_text(self, problem: str) -> str:
        """The answer to a wrong use: what was wrong, and how to type it."""
        return f"{problem}. Usage: {self.usage}\nType !{self.prefix} help for every command."

    def help_lines(self) -> Iterator[str]:
        for i, form in enumerate(self.forms):
            text = self.help if i == 0 else ""
            if len(form) < _COLUMN and text:
                yield f"{form:<{_COLUMN}}{text}"
            else:
                yield form
                if text:
                    yield " " * _COLUMN + text


_SPEC = "__privacy_verb__"


def handles(verb: Verb) -> Callable[[F], F]:
    """Declare that the decorated method runs ``verb``."""

    def mark(fn: F) -> F:
        setattr(fn, _SPEC, verb)
        return fn

    return mark


def declared(owner: type) -> dict[Verb, str]:
    """The verbs the methods of ``owner`` declare, with each method's name."""
    found: dict[Verb, str] = {}
    for name, member in vars(owner).items():
        verb = getattr(member, _SPEC, None)
        if isinstance(verb, Verb):
            if verb in found:
                raise ValueError(f"!{verb.prefix} {verb.name} is handled twice in {owner.__name__}")
            found[verb] = name
    return found


def request_id_first(cmd: ParsedCommand) -> str | None:
    if _REQUEST_ID.match(cmd.args[0]):
        return None
    return f"{cmd.args[0][:40]!r} is not a request id (they look like er-0123456789abcdef)"


class Catalogue:
    """Every verb of the handler classes, in the order the help lists them."""

    def __init__(self, *owners: type, headers: tuple[str, str] | None = None) -> None:
        self._headers = headers or (SELF_HEADER, ADMIN_HEADER)
        self._verbs: dict[str, Verb] = {}
        self.owner: dict[str, type] = {}
        for owner in owners:
            for verb in declared(owner):
                if verb.name in self._verbs:
                    raise ValueError(f"!{verb.prefix} {verb.name} is declared twice")
                self._verbs[verb.name] = verb
                self.owner[verb.name] = owner

    def __iter__(self) -> Iterator[Verb]:
        return iter(self._verbs.values())

    def get(self, name: str) -> Verb | None:
        return self._verbs.get(name)

    @property
    def by_name(self) -> Mapping[str, Verb]:
        return self._verbs

    def help_text(self, is_admin: bool) -> str:
        """The help: people's verbs, then (for admins) the admins' ones."""
        verbs = sorted(self, key=lambda v: v.rank)
        own = [line for v in verbs if not v.admin for line in v.help_lines()]
        text = self._headers[0] + "\n" + "\n".join(own)
        admin = [line for v in verbs if v.admin for line in v.help_lines()]
        if is_admin and admin:
            text += "\n\n" + self._headers[1] + "\n" + "\n".join(admin)
        return text

    def usage(self, name: str, problem: str) -> str:
        verb = self.get(name)
        return (
            f"{problem}.\n\n{self.help_text(False)}" if verb is None else verb.usage_text(problem)
        )


SELF_HEADER = "Your privacy commands (send them here, in this direct message with the bridge):"
ADMIN_HEADER = "Privacy admin commands (here or in another room with the bot, not a bridged room):"
