"""The partner register's values and their validation (docs/partners.md).

Every field is checked before anything is stored: a malformed server name, Matrix id or
e-mail address is refused with a message naming the field and the value's problem, and
the register stays as it was.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Literal, cast, get_args

Policy = Literal["allow", "minimise", "deny"]
# What happens with a server that has no entry (privacy.unknown_servers).
UnknownPolicy = Literal["allow", "hold", "deny"]
# GDPR Art. 6(1)(a)-(f), in order.
LawfulBasis = Literal[
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
]
POLICIES: tuple[str, ...] = get_args(Policy)
LAWFUL_BASES: tuple[str, ...] = get_args(LawfulBasis)

MAX_TEXT = 255
MAX_CONTACTS = 20

# Matrix spec, Appendices "Server Name": hostname [":" port], the hostname an IPv4
# address, a bracketed IPv6 address or a DNS name of 1-255 of [A-Za-z0-9.-].
_DNS_NAME = re.compile(r"^[A-Za-z0-9.-]{1,255}$")
_PORT = re.compile(r"^[0-9]{1,5}$")
# Matrix spec, Appendices "User Identifiers": the localpart of a user id is made of
# a-z 0-9 . _ = - / + (historical ids may hold more; none of them is a new contact).
_LOCALPART = re.compile(r"^[a-z0-9._=/+-]+$")
# An e-mail address the bridge will put into an SMTP envelope and a header: a dot-atom
# local part and a DNS domain (RFC 5321, section 4.1.2), no quoting, spaces or line breaks.
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


class PartnerError(ValueError):
    """A register entry, or one of its values, that cannot be accepted."""


def check_server_name(value: str) -> str:
    """``value`` if it is a Matrix server name, else :class:`PartnerError` saying why."""
    if not value or len(value) > MAX_TEXT:
        raise PartnerError(f"server name {value!r}: must be 1-{MAX_TEXT} characters")
    host, port = value, None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise PartnerError(f"server name {value!r}: unclosed '[' of an IPv6 address")
        host, rest = value[1:end], value[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise PartnerError(f"server name {value!r}: not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise PartnerError(f"server name {value!r}: junk after the IPv6 address")
        port = rest[1:] if rest else None
    elif ":" in value:
        host, port = value.rsplit(":", 1)
    if not value.startswith("[") and not _DNS_NAME.match(host):
        raise PartnerError(
            f"server name {value!r}: a host name holds only letters, digits, '.' and '-'"
        )
    if not value.startswith("[") and (host.startswith(".") or ".." in host):
        raise PartnerError(f"server name {value!r}: empty label in the host name")
    if port is not None and (not _PORT.match(port) or not 0 < int(port) < 65536):
        raise PartnerError(f"server name {value!r}: the port must be 1-65535")
    return value


def check_matrix_id(value: str) -> str:
    if not value.startswith("@") or ":" not in value:
        raise PartnerError(f"Matrix id {value!r}: must look like @name:server")
    local, server = value[1:].split(":", 1)
    if not _LOCALPART.match(local):
        raise PartnerError(
            f"Matrix id {value!r}: the name part holds only a-z, 0-9 and . _ = - / +"
        )
    if len(value) > MAX_TEXT:
        raise PartnerError(f"Matrix id {value!r}: longer than {MAX_TEXT} characters")
    try:
        check_server_name(server)
    except PartnerError as e:
        raise PartnerError(f"Matrix id {value!r}: {e}") from None
    return value


def check_email(value: str) -> str:
    if len(value) > 254 or value.count("@") != 1:
        raise PartnerError(f"e-mail address {value!r}: must look like name@domain")
    local, domain = value.split("@")
    if not local or len(local) > 64 or not _EMAIL_LOCAL.match(local):
        raise PartnerError(f"e-mail address {value!r}: the part before '@' is not a plain name")
    labels = domain.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise PartnerError(f"e-mail address {value!r}: {domain!r} is not a domain name")
    return value


def check_text(field: str, value: str | None, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise PartnerError(f"{field}: must not be empty")
    if len(value) > limit:
        raise PartnerError(f"{field}: longer than {limit} characters")
    if _CONTROL.search(value):
        raise PartnerError(f"{field}: holds control characters")
    return value


@dataclass(frozen=True)
class Contact:
    """Who an erasure notice or incident request goes to: a Matrix id or an e-mail address."""

    matrix_id: str | None = None
    email: str | None = None

    def __str__(self) -> str:
        return self.matrix_id or f"mailto:{self.email}"

    def as_json(self) -> dict[str, str]:
        return {"matrix_id": self.matrix_id} if self.matrix_id else {"email": self.email or ""}


def parse_contact(value: str) -> Contact:
    """``@name:server`` is a Matrix id; ``name@domain`` or ``mailto:name@domain`` an address."""
    value = value.strip()
    if value.startswith("@"):
        return Contact(matrix_id=check_matrix_id(value))
    return Contact(email=check_email(value.removeprefix("mailto:")))


def contacts_json(contacts: tuple[Contact, ...]) -> str:
    return json.dumps([c.as_json() for c in contacts], separators=(",", ":"))


def contacts_from_json(text: str) -> tuple[Contact, ...]:
    found: list[Contact] = []
    for item in json.loads(text):
        if item.get("matrix_id"):
            found.append(Contact(matrix_id=str(item["matrix_id"])))
        elif item.get("email"):
            found.append(Contact(email=str(item["email"])))
    return tuple(found)


def check_policy(value: str) -> Policy:
    if value not in POLICIES:
        raise PartnerError(f"policy {value!r}: must be one of {', '.join(POLICIES)}")
    return cast(Policy, value)


def check_lawful_basis(value: str) -> LawfulBasis:
    if value not in LAWFUL_BASES:
        raise PartnerError(
            f"lawful basis {value!r}: must be one of {', '.join(LAWFUL_BASES)} (GDPR Art. 6(1))"
        )
    return cast(LawfulBasis, value)


def check_jurisdiction(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if not _COUNTRY.match(code):
        raise PartnerError(f"jurisdiction {value!r}: an ISO 3166-1 alpha-2 code such as DE or FR")
    return code


def check_retention(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 36_500:
        raise PartnerError(f"retention {value}: days between 0 and 36500")
    return value


@dataclass(frozen=True)
class Partner:
    """A remote server the organisation shares with, and the terms it shares on."""

    server: str
    organisation: str
    contacts: tuple[Contact, ...]
    lawful_basis: LawfulBasis
    retention_days: int | None
    jurisdiction: str | None
    third_country: bool
    safeguard: str | None
    agreement_ref: str | None
    agreement_version: str | None
    policy: Policy
    updated_ms: int = 0
    version: int = 0
    # Its admins run an erasure receiver (docs/erasure-protocol.md): an erasure request
    # stays open until it answers "applied" or "refused", or the deadline passes.
    receiver: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "server": self.server,
            "organisation": self.organisation,
            "contacts": [c.as_json() for c in self.contacts],
            "lawful_basis": self.lawful_basis,
            "retention_days": self.retention_days,
            "jurisdiction": self.jurisdiction,
            "third_country": self.third_country,
            "safeguard": self.safeguard,
            "agreement_ref": self.agreement_ref,
            "agreement_version": self.agreement_version,
            "policy": self.policy,
            "receiver": self.receiver,
            "updated_ms": self.updated_ms,
            "register_version": self.version,
        }


def check_partner(p: Partner) -> Partner:
    """Every field of ``p`` checked together (a third country needs a safeguard)."""
    check_server_name(p.server)
    if len(p.contacts) > MAX_CONTACTS:
        raise PartnerError(f"contacts: at most {MAX_CONTACTS}")
    for c in p.contacts:
        if c.matrix_id:
            check_matrix_id(c.matrix_id)
        else:
            check_email(c.email or "")
    check_text("organisation", p.organisation)
    check_lawful_basis(p.lawful_basis)
    check_policy(p.policy)
    check_retention(p.retention_days)
    if p.third_country and not p.safeguard:
        # GDPR Chapter V: a transfer to a third country needs an adequacy decision
        # (Art. 45) or an appropriate safeguard (Art. 46), which the register must name.
        raise PartnerError(
            "safeguard: a third-country partner needs the transfer's safeguard"
            " (e.g. 'adequacy decision' or 'standard contractual clauses')"
        )
    return p
