"""The command parser: verbs, arguments, options, and clear errors for bad lines."""

from __future__ import annotations

import pytest

from bridge.commands.parser import CommandSyntaxError, ParsedCommand, is_command, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!privacy", ParsedCommand("privacy", "help")),
        ("!privacy status", ParsedCommand("privacy", "status")),
        ("  !bridge LINK general", ParsedCommand("bridge", "link", ("general",))),
        (
            "!privacy delete --room !abc:hs --before=2026-01-01",
            ParsedCommand("privacy", "delete", (), {"room": "!abc:hs", "before": "2026-01-01"}),
        ),
        (
            '!privacy deny 7 "not verified yet"',
            ParsedCommand("privacy", "deny", ("7", "not verified yet")),
        ),
    ],
)
def test_parses_verbs_arguments_and_options(text: str, expected: ParsedCommand) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text", ["hello", "!privacyx status", "say !privacy delete", "!bridges", "", "privacy delete"]
)
def test_only_lines_starting_with_a_prefix_are_commands(text: str) -> None:
    assert not is_command(text)
    with pytest.raises(CommandSyntaxError):
        parse(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('!privacy deny 7 "unclosed', "cannot read the command"),
        ("!privacy delete --room", "--room needs a value"),
        ("!privacy delete --room a --room b", "--room given twice"),
        ("!privacy " + "x" * 2000, "command too long"),
    ],
)
def test_malformed_lines_get_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(CommandSyntaxError, match=message):
        parse(text)
