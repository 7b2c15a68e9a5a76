"""Failed-login throttling for the dashboard, its API and the metrics endpoint.

Failures are counted per client address **and** per presented credential (a short hash
of the token, or the claimed Matrix id), in a one-minute window. The credential is always
checked first: a right token is let in even while its source is throttled, so an attacker
behind the same proxy as the officers cannot lock them out. A throttled failure is
answered 429 instead of 401, and only the failure that trips a key is audited, so a flood
of wrong tokens cannot flood the audit log either.

The client address is the connecting peer, unless that peer is one of the configured
reverse proxies (``web.trusted_proxies``): then ``X-Forwarded-For`` is read from the
right, skipping the trusted proxies, and the first other address is the client. Entries
to its left were written by the client itself and are never believed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from bridge.privacy import audit
from bridge.privacy.audit import AuditLog

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
WINDOW_S = 60.0
# Keys remembered at most; past this the oldest are forgotten (memory stays bounded
# however many different tokens an attacker presents).
MAX_KEYS = 10_000


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``web.trusted_proxies`` as networks (validated by the config loader)."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: str, proxies: tuple[IPNetwork, ...]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in net for net in proxies)


def client_address(request: web.Request, proxies: tuple[IPNetwork, ...]) -> str:
    """Who is asking: the peer, or what trusted proxies say the peer was."""
    peer = request.remote or "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            parsed = _address(hop)
            # A malformed entry: our own proxy would never append one, so fall back.
            return str(parsed) if parsed is not None else peer
    return peer


def source_key(address: str) -> str:
    """What failures are counted against: the address, or its /64 for IPv6, since one
    host usually holds a whole /64 and could otherwise try from a fresh address each
    time."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address


def credential_ref(presented: str) -> str:
    """A short, non-reversible name for a presented credential (for keys and the audit)."""
    return hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()[:12]


@dataclass(frozen=True)
class Verdict:
    throttled: bool  # answer 429: the source or the credential failed too often
    audit: bool  # record this failure in the audit log (not every one of a flood)


class LoginThrottle:
    """Sliding-window failure counts per source and per credential."""

    def __init__(
        self,
        per_source: int = 10,
        per_credential: int = 5,
        window_s: float = WINDOW_S,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._limits = {"source": per_source, "credential": per_credential}
        self._window_s = window_s
        self._max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def failed(self, source: str, credential: str, now: float | None = None) -> Verdict:
        """Count one failed attempt; whether to answer 429 and whether to audit it."""
        now = time.monotonic() if now is None else now
        counts = {}
        for kind, value in (("source", source), ("credential", credential)):
            recent = self._recent((kind, value), now)
            recent.append(now)
            counts[kind] = len(recent)
        self._forget_oldest()
        throttled = any(counts[kind] > limit for kind, limit in self._limits.items())
        # Audit up to the failure that trips the source; then stay quiet until it cools
        # (keyed on the source, as a flood of ever new tokens comes from one).
        return Verdict(throttled, audit=counts["source"] <= self._limits["source"] + 1)

    def __len__(self) -> int:
        """How many sources and credentials are remembered."""
        return len(self._failures)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.pop(key, None) or deque()
        while times and now - times[0] >= self._window_s:
            times.popleft()
        self._failures[key] = times  # re-inserted: the dict's order is least recent first
        return times

    def _forget_oldest(self) -> None:
        while len(self._failures) > self._max_keys:
            del self._failures[next(iter(self._failures))]


class FailedLogins:
    """Counts refused credentials against their source and themselves, and audits them.

    An audit entry names the source address and a short hash of what was presented,
    never the credential itself.
    """

    def __init__(
        self, audit_log: AuditLog, proxies: tuple[IPNetwork, ...], throttle: LoginThrottle
    ) -> None:
        self._audit = audit_log
        self.proxies = proxies
        self.throttle = throttle

    async def record(
        self, request: web.Request, actor: str, method: str, presented: str
    ) -> Verdict:
        source = client_address(request, self.proxies)
        ref = credential_ref(presented)
        verdict = self.throttle.failed(source_key(source), ref)
        if verdict.audit:
            details: audit.Details = {
                "method": method,
                "source": source,
                "credential": ref[:8],
                "throttled": verdict.throttled,
            }
            await self._audit.record(audit.ADMIN_LOGIN_REFUSED, actor, None, details)
        return verdict
