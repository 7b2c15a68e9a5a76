"""What every ``!privacy`` handler shares: the settings, where a command was typed, the
refusal (answered and audited, nothing else changed), and the hand-over to a
``privacy.job`` outbox action (bridge/commands/job_values.py) for work that needs the
engine or another server."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bridge.commands.authz import Actor, Place
from bridge.commands.context import CommandContext
from bridge.commands.export import Retention
from bridge.commands.job_values import Job, Scope
from bridge.config import Config
from bridge.config.model import PrivacyMode
from bridge.pipeline import keys
from bridge.pipeline.actions import new_action
from bridge.privacy import audit
from bridge.storage.database import UnitOfWork

log = logging.getLogger(__name__)

DELETE = "delete"  # the confirmation codes' purpose


@dataclass(frozen=True)
class CommandSettings:
    admins: frozenset[str]
    local_domain: str
    mode: PrivacyMode
    notice_text: str | None
    notice_url: str | None
    rate_per_minute: int
    moderator_power_level: int
    # How long each kind of record is kept, as !privacy export tells the person.
    retention: Retention = Retention()

    @classmethod
    def of(cls, config: Config) -> CommandSettings:
        p = config.privacy
        return cls(
            admins=frozenset(p.admins),
            local_domain=config.homeserver.domain,
            mode=p.mode,
            notice_text=p.notice_text,
            notice_url=p.notice_url,
            rate_per_minute=p.command_rate_per_minute,
            moderator_power_level=p.moderator_power_level,
            retention=Retention.of(config),
        )

    def actor(self, ctx: CommandContext) -> Actor:
        # Admins are named by Matrix id, or by Rocket.Chat username (ids are not typed by
        # people); a Rocket.Chat username is only trusted from Rocket.Chat itself.
        is_admin = (
            ctx.sender in self.admins if ctx.side == "matrix" else ctx.sender_name in (self.admins)
        )
        local = ctx.side == "rocketchat" or ctx.sender.endswith(":" + self.local_domain)
        return Actor(ctx.side, ctx.sender, ctx.sender_name, is_admin, local)


def place_of(ctx: CommandContext) -> Place:
    if ctx.is_direct:
        return Place.DM
    return Place.PORTAL if ctx.in_portal else Place.OTHER


async def refuse(
    uow: UnitOfWork, ctx: CommandContext, verb: str, reason: str, *, answer: str | None = None
) -> None:
    """Answer, and record the refusal in the audit log; nothing else changes."""
    log.info("Refused !privacy %s on %s: %s", verb, ctx.side, reason)
    await audit.AuditLog.append(
        uow,
        audit.COMMAND_REFUSED,
        ctx.sender,
        None,
        {"command": verb[:32], "side": ctx.side, "reason": reason[:200]},
    )
    await ctx.reply(uow, answer or f"Refused: {reason}.")


async def enqueue_job(
    uow: UnitOfWork,
    ctx: CommandContext,
    job: str,
    args: list[str],
    options: dict[str, str],
    *,
    scope: Scope | None = None,
) -> None:
    """Hand work that needs the engine or another server to the outbox (once per command)."""
    await uow.enqueue(
        new_action(
            Job(job, ctx, tuple(args), options, scope),
            key=keys.privacy_job_key(ctx.event_id, job),
            # One person's commands run in order; other people's are not held up.
            queue=keys.person_commands_queue(ctx.side, ctx.sender),
        )
    )
