"""``bridge partner list|show|set|remove``: the partner register, for privacy officers.

``set`` creates an entry or changes the fields given; every change gets a new register
version and an audit entry as the CLI user (``cli:<login name>``). A malformed value is
refused with one line naming the field, and nothing changes. ``list`` and ``show`` print
the contacts (partner staff's Matrix ids and addresses): a read that shows any is
recorded as ``partner.contacts_read``, with counts, never the contacts.

Exit codes: 0 done; 1 no such partner; 2 a bad config, argument or value; 3 the database
schema is outdated.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from bridge.cli.commands_audit import _table, cli_actor
from bridge.cli.commands_core import EXIT_CONFIG, run_on_database
from bridge.privacy.partner_values import (
    LAWFUL_BASES,
    POLICIES,
    Contact,
    Partner,
    PartnerError,
    check_server_name,
    parse_contact,
)
from bridge.privacy.partners import PartnerChanges, PartnerRegister

EXIT_NOT_FOUND = 1
HEADER = ("server", "organisation", "policy", "basis", "jurisdiction", "retention", "receiver",
          "contacts")  # fmt: skip
T = TypeVar("T")


def register(sub: Any) -> None:
    partner = sub.add_parser("partner", help="the partner register: who we share with, on what")
    psub = partner.add_subparsers(dest="partner_command", required=True, metavar="WHAT")
    listing = psub.add_parser("list", help="every registered partner")
    listing.set_defaults(func=cmd_list)
    show = psub.add_parser("show", help="one partner's entry")
    show.set_defaults(func=cmd_show)
    put = psub.add_parser("set", help="create an entry, or change the fields given")
    put.set_defaults(func=cmd_set)
    _set_options(put)
    remove = psub.add_parser("remove", help="remove an entry (the server becomes unknown)")
    remove.set_defaults(func=cmd_remove)
    for p in (show, put, remove):
        p.add_argument("server", help="the homeserver's name, e.g. matrix.example.org")
    for p in (listing, show):
        p.add_argument("--format", choices=("table", "json"), default="table")
    for p in (listing, show, put, remove):
        p.add_argument("-c", "--config", default="config.yaml", type=Path)


def _set_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--organisation", help="the organisation running the server")
    p.add_argument(
        "--contact",
        action="append",
        help="@admin:server or name@domain; repeat for several (replaces the list)",
    )
    p.add_argument("--no-contacts", action="store_true", help="remove every contact")
    p.add_argument("--lawful-basis", choices=LAWFUL_BASES, help="GDPR Art. 6(1)")
    p.add_argument("--retention-days", type=int, help="how long the partner keeps what it gets")
    p.add_argument("--no-retention", action="store_true", help="forget the retention promise")
    p.add_argument("--jurisdiction", help="ISO 3166-1 alpha-2 country code ('' clears)")
    country = p.add_mutually_exclusive_group()
    country.add_argument("--third-country", dest="third_country", action="store_true")
    country.add_argument("--no-third-country", dest="third_country", action="store_false")
    p.set_defaults(third_country=None)
    p.add_argument("--safeguard", help="the third-country transfer's safeguard ('' clears)")
    p.add_argument("--agreement", help="the sharing agreement's reference ('' clears)")
    p.add_argument("--agreement-version", help="the agreement's version ('' clears)")
    p.add_argument("--policy", choices=POLICIES, help="allow, minimise or deny")
    receiver = p.add_mutually_exclusive_group()
    receiver.add_argument(
        "--receiver",
        dest="receiver",
        action="store_true",
        help="its admins run an erasure receiver: requests wait for its answer",
    )
    receiver.add_argument("--no-receiver", dest="receiver", action="store_false")
    p.set_defaults(receiver=None)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _run(
    args: argparse.Namespace, work: Callable[[PartnerRegister], Awaitable[T]]
) -> tuple[int, T | None]:
    return run_on_database(
        args.config,
        lambda db: work(PartnerRegister(db)),
        refusals=(PartnerError,),
        refusal_exit=EXIT_CONFIG,
        refusal_prefix="refused, nothing changed: ",
    )


def _row(p: Partner) -> list[object]:
    retention = "" if p.retention_days is None else f"{p.retention_days}d"
    where = (p.jurisdiction or "") + (" (third country)" if p.third_country else "")
    return [
        p.server,
        p.organisation,
        p.policy,
        p.lawful_basis,
        where,
        retention,
        "yes" if p.receiver else "",
        ", ".join(str(c) for c in p.contacts),
    ]


def _dump(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def cmd_list(args: argparse.Namespace) -> int:
    async def work(register: PartnerRegister) -> tuple[int, list[Partner]]:
        return await register.read_all(cli_actor(), "cli partner list")

    code, result = _run(args, work)
    if result is None:
        return code
    version, partners = result
    if args.format == "json":
        _dump({"register_version": version, "partners": [p.as_json() for p in partners]})
    else:
        _table(HEADER, [_row(p) for p in partners], sys.stdout)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    code, partner = _run(
        args, lambda register: register.read(args.server, cli_actor(), "cli partner show")
    )
    if code:
        return code
    if partner is None:
        _err(f"{args.server} is not in the partner register")
        return EXIT_NOT_FOUND
    if args.format == "json":
        _dump(partner.as_json())
    else:
        fields = partner.as_json() | {"contacts": ", ".join(str(c) for c in partner.contacts)}
        for key, value in fields.items():
            sys.stdout.write(f"{key + ':':20} {'' if value is None else value}\n")
    return 0


def _changes(args: argparse.Namespace) -> PartnerChanges:
    contacts: tuple[Contact, ...] | None = None
    if args.no_contacts:
        contacts = ()
    elif args.contact:
        contacts = tuple(parse_contact(c) for c in args.contact)
    return PartnerChanges(
        organisation=args.organisation,
        contacts=contacts,
        lawful_basis=args.lawful_basis,
        retention_days=args.retention_days,
        clear_retention=args.no_retention,
        jurisdiction=args.jurisdiction,
        third_country=args.third_country,
        safeguard=args.safeguard,
        agreement_ref=args.agreement,
        agreement_version=args.agreement_version,
        policy=args.policy,
        receiver=args.receiver,
    )


def cmd_set(args: argparse.Namespace) -> int:
    try:
        check_server_name(args.server)
        if args.no_contacts and args.contact:
            raise PartnerError("--contact and --no-contacts: give one of them")
        changes = _changes(args)
    except PartnerError as e:
        _err(f"refused, nothing changed: {e}")
        return EXIT_CONFIG
    code, result = _run(args, lambda r: r.set(args.server, changes, cli_actor()))
    if result is None:
        return code
    partner, changed = result
    if changed:
        sys.stdout.write(f"{partner.server}: saved (register version {partner.version})\n")
    else:
        sys.stdout.write(f"{partner.server}: unchanged (register version {partner.version})\n")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    code, result = _run(args, lambda r: r.remove(args.server, cli_actor()))
    if code:
        return code
    if result is None:
        _err(f"{args.server} is not in the partner register")
        return EXIT_NOT_FOUND
    sys.stdout.write(f"{args.server}: removed; it is an unknown server from now on\n")
    return 0
