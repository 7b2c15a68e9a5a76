"""Each !privacy verb is one spec: arguments, options, rule, help and handler together."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.commands.authz import DM, Actor, Facts, Place, Rule, Who, decide
from bridge.commands.bridge_admin import CATALOGUE as BRIDGE
from bridge.commands.bridge_admin import BridgeCommands
from bridge.commands.inline import InlineVerbs
from bridge.commands.jobs import PrivacyJobs
from bridge.commands.parser import parse
from bridge.commands.privacy_commands import CATALOGUE
from bridge.commands.verbs import Catalogue, Verb, declared, handles

EXPECTED = {
    "help", "notice", "status", "export", "delete", "confirm", "optout", "optin", "cancel",
    "purge", "recipients", "requests", "approve", "deny", "erase",
}  # fmt: skip


def test_the_catalogue_holds_exactly_the_verbs_people_are_told_about() -> None:
    assert {v.name for v in CATALOGUE} == EXPECTED


def test_every_verb_has_a_rule_help_a_usage_and_one_handler() -> None:
    inline = {v.name for v in declared(InlineVerbs)}
    jobs = {v.name for v in declared(PrivacyJobs)}
    assert not inline & jobs
    for verb in CATALOGUE:
        assert isinstance(verb.rule, Rule), verb.name
        assert verb.rule.places or verb.rule.admin_places, f"{verb.name}: allowed nowhere"
        assert verb.help.strip(), verb.name
        assert verb.forms and all(f.startswith("!privacy ") for f in verb.forms), verb.name
        assert (verb.name in inline) != (verb.name in jobs), verb.name


def test_the_job_runner_dispatches_every_job_verb() -> None:
    jobs = PrivacyJobs(*(Any for _ in range(4)))  # type: ignore[arg-type]
    assert {v.name for v in declared(PrivacyJobs)} <= set(jobs._jobs)


def test_help_lists_each_verb_once_and_admin_verbs_only_to_admins() -> None:
    people, admins = CATALOGUE.help_text(False), CATALOGUE.help_text(True)
    for verb in CATALOGUE:
        assert admins.count(verb.forms[0]) == 1, verb.name
        assert (verb.forms[0] in people) is not verb.admin, verb.name
        assert verb.help in admins


def test_a_verb_declared_twice_is_refused() -> None:
    spec = Verb("status", ("!privacy status",), "again, elsewhere", Rule(Who.SELF, DM))

    class Again:
        @handles(spec)
        async def status(self) -> None: ...

    with pytest.raises(ValueError, match="declared twice"):
        Catalogue(PrivacyJobs, Again)

    class Twice:
        @handles(spec)
        async def one(self) -> None: ...

        @handles(spec)
        async def two(self) -> None: ...

    with pytest.raises(ValueError, match="handled twice"):
        declared(Twice)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("!privacy status now", "wrong number of arguments"),
        ("!privacy delete --everything yes", "unknown option --everything"),
        ("!privacy delete --before 31/01/2026", "--before needs a date"),
        ("!privacy cancel 42", "is not a request id"),
        ("!privacy deny er-0123456789abcdef", "wrong number of arguments"),
        ("!privacy erase @a:hs --note ' '", "needs --note"),
        ("!privacy delete confirm", "give exactly one code"),
    ],
)
def test_a_wrong_use_is_named(line: str, problem: str) -> None:
    cmd = parse(line)
    confirm = cmd.verb == "delete" and cmd.args[:1] == ("confirm",)
    verb = CATALOGUE.get("confirm" if confirm else cmd.verb)
    assert verb is not None
    found = verb.problem(cmd)
    assert found is not None and problem in found


@pytest.mark.parametrize(
    "line",
    [
        "!privacy status",
        "!privacy delete --room general --before 2026-01-31",
        "!privacy cancel er-0123456789abcdef",
        "!privacy deny er-0123456789abcdef 'not the person'",
        "!privacy erase @a:hs --note 'checked their badge'",
        "!privacy delete confirm 123456",
    ],
)
def test_a_right_use_passes(line: str) -> None:
    cmd = parse(line)
    confirm = cmd.verb == "delete" and cmd.args[:1] == ("confirm",)
    verb = CATALOGUE.get("confirm" if confirm else cmd.verb)
    assert verb is not None and verb.problem(cmd) is None


def test_every_bridge_verb_has_a_rule_help_and_a_handler() -> None:
    handlers = {v.name for v in declared(BridgeCommands)}
    assert {v.name for v in BRIDGE} == handlers == {
        "help", "link", "unlink", "retention", "partner",
    }  # fmt: skip
    for verb in BRIDGE:
        assert verb.prefix == "bridge" and verb.help.strip(), verb.name
        assert all(f.startswith("!bridge ") for f in verb.forms), verb.name
        assert verb.rule.places, verb.name
        assert BRIDGE.help_text(True).count(verb.forms[0]) == 1, verb.name


@pytest.mark.parametrize(
    ("verb", "side", "is_admin", "place", "allowed"),
    [
        ("link", "matrix", True, Place.OTHER, True),
        ("link", "matrix", False, Place.OTHER, False),
        ("link", "rocketchat", True, Place.OTHER, False),  # admins are Matrix ids
        ("unlink", "matrix", True, Place.PORTAL, True),
        ("partner", "matrix", True, Place.OTHER, True),
        ("partner", "matrix", True, Place.PORTAL, False),  # other agencies read a portal
        ("retention", "rocketchat", False, Place.PORTAL, True),  # the job checks the role
        ("help", "rocketchat", False, Place.PORTAL, True),
    ],
)
def test_bridge_rules(verb: str, side: str, is_admin: bool, place: Place, allowed: bool) -> None:
    spec = BRIDGE.get(verb)
    assert spec is not None
    actor = Actor(side, "x", "x", is_admin, local=True)  # type: ignore[arg-type]
    assert decide(verb, spec.rule, actor, Facts(place), prefix="bridge").allowed is allowed
