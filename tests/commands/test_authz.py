"""Every authorization rule of !privacy, allowed and refused, from the one table."""

from __future__ import annotations

import pytest

from bridge.commands.authz import Actor, Decision, Facts, Place, Who, decide
from bridge.commands.privacy_commands import CATALOGUE

RULES = {verb.name: verb.rule for verb in CATALOGUE}


def _decide(verb: str, actor: Actor, facts: Facts) -> Decision:
    return decide(verb, RULES.get(verb), actor, facts)


PERSON = Actor("rocketchat", "uid1", "alice", is_admin=False, local=True)
LOCAL_MX = Actor("matrix", "@bob:hs0", "@bob:hs0", is_admin=False, local=True)
REMOTE_MX = Actor("matrix", "@eve:hs1", "@eve:hs1", is_admin=False, local=False)
ADMIN = Actor("matrix", "@officer:hs0", "@officer:hs0", is_admin=True, local=True)
RC_ADMIN = Actor("rocketchat", "uid9", "officer", is_admin=True, local=True)

SELF_SERVICE = ["help", "notice", "status", "export", "delete", "confirm", "optout", "optin"]
ADMIN_ONLY = ["requests", "approve", "deny", "erase"]

# (verb, actor, facts, allowed, reason fragment)
CASES: list[tuple[str, Actor, Facts, bool, str]] = [
    # Self-service: anyone, on either side, from either homeserver, in a DM only.
    *[(v, a, Facts(Place.DM), True, "") for v in SELF_SERVICE for a in (PERSON, REMOTE_MX)],
    *[(v, PERSON, Facts(Place.PORTAL), False, "direct message") for v in SELF_SERVICE],
    *[
        (v, LOCAL_MX, Facts(Place.OTHER), False, "direct message")
        for v in ("status", "export", "delete", "confirm", "optout", "optin")
    ],
    ("help", LOCAL_MX, Facts(Place.OTHER), True, ""),
    # Admin commands: admins only (either side), in a DM only: any other room may hold
    # people the answer is not for.
    *[(v, a, Facts(Place.DM), True, "") for v in ADMIN_ONLY for a in (ADMIN, RC_ADMIN)],
    *[(v, ADMIN, Facts(Place.OTHER), False, "direct message") for v in ADMIN_ONLY],
    *[(v, ADMIN, Facts(Place.PORTAL), False, "") for v in ADMIN_ONLY],
    *[
        (v, a, Facts(Place.DM), False, "only privacy admins")
        for v in ADMIN_ONLY
        for a in (PERSON, LOCAL_MX, REMOTE_MX)
    ],
    # Cancel: one's own request; admins any request.
    ("cancel", PERSON, Facts(Place.DM, owns_request=True), True, ""),
    ("cancel", PERSON, Facts(Place.DM, owns_request=False), False, "your own requests"),
    ("cancel", ADMIN, Facts(Place.DM, owns_request=False), True, ""),
    ("cancel", ADMIN, Facts(Place.OTHER, owns_request=False), False, "direct message"),
    ("cancel", PERSON, Facts(Place.OTHER, owns_request=True), False, "direct message"),
    # Purge: only where the caller moderates; never a remote user on a Rocket.Chat user.
    ("purge", LOCAL_MX, Facts(Place.PORTAL, True, True), True, ""),
    ("purge", PERSON, Facts(Place.DM, True, True), True, ""),
    ("purge", REMOTE_MX, Facts(Place.PORTAL, True, False), True, ""),
    ("purge", LOCAL_MX, Facts(Place.PORTAL, False, False), False, "rooms you moderate"),
    ("purge", PERSON, Facts(Place.DM, False, True), False, "rooms you moderate"),
    ("purge", REMOTE_MX, Facts(Place.PORTAL, True, True), False, "another homeserver"),
    ("purge", REMOTE_MX, Facts(Place.DM, None, True), False, "another homeserver"),
    ("purge", LOCAL_MX, Facts(Place.OTHER, True, False), False, "direct message"),
    # Recipients: about the room, not a person: anyone, in the bridged room itself.
    *[("recipients", a, Facts(Place.PORTAL), True, "") for a in (PERSON, REMOTE_MX, ADMIN)],
    ("recipients", PERSON, Facts(Place.DM), False, ""),
    ("recipients", LOCAL_MX, Facts(Place.OTHER), False, ""),
    # Unknown verbs.
    ("frobnicate", ADMIN, Facts(Place.DM), False, "no command"),
]


@pytest.mark.parametrize(("verb", "actor", "facts", "allowed", "reason"), CASES)
def test_each_rule_allows_and_refuses(
    verb: str, actor: Actor, facts: Facts, allowed: bool, reason: str
) -> None:
    decision = _decide(verb, actor, facts)
    assert decision.allowed is allowed, decision
    assert reason in decision.reason
    if allowed:
        assert decision.pending == ()


def test_every_verb_of_the_table_has_allowed_and_refused_cases() -> None:
    covered = {(v, a) for v, _, _, a, _ in CASES}
    for verb in RULES:
        assert (verb, True) in covered, f"{verb}: no allowed case"
        assert (verb, False) in covered, f"{verb}: no refused case"


@pytest.mark.parametrize(
    ("facts", "pending"),
    [
        (Facts(Place.PORTAL), ("target_is_rocketchat_user", "moderates")),
        (Facts(Place.PORTAL, target_is_rocketchat_user=False), ("moderates",)),
    ],
)
def test_purge_asks_for_facts_it_does_not_have(facts: Facts, pending: tuple[str, ...]) -> None:
    decision = _decide("purge", LOCAL_MX, facts)
    assert decision.allowed and decision.pending == pending


def test_cancel_without_knowing_the_owner_is_not_final() -> None:
    assert _decide("cancel", PERSON, Facts(Place.DM)).pending == ("owns_request",)


def test_self_service_rules_never_take_a_subject() -> None:
    # Who.SELF verbs act on the sender only: the handlers derive the subject from the
    # sender's id (tests/commands/test_hostile.py checks that arguments are refused).
    assert {v for v, r in RULES.items() if r.who is Who.SELF} == {
        "status",
        "export",
        "delete",
        "optout",
        "optin",
        "confirm",
    }
