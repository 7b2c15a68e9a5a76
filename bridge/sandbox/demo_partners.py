"""The demo's partner register: every other homeserver is a partner agency, with its
admin (Matrix) and an address at the local mail sink (e-mail) as contacts, so erasure
notices reach them both ways, and the one whose admin runs the erasure receiver marked
so (docs/partners.md)."""

from __future__ import annotations

from collections.abc import Collection

from bridge.config import Config
from bridge.privacy.partner_values import Contact
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.sandbox.homeservers import HomeserverCluster
from bridge.storage.database import Database

AGENCIES = ("Agency Two", "Agency Three", "Agency Four", "Agency Five", "Agency Six")


def partner_email(index: int) -> str:
    return f"admin@hs{index + 1}.agency.example"


async def register_partners(
    config: Config, cluster: HomeserverCluster, receivers: Collection[int] = ()
) -> None:
    """Every homeserver but the first as a partner; those at ``receivers`` (indexes)
    marked as running an erasure receiver."""
    db = Database.from_config(config)
    try:
        register = PartnerRegister(db)
        for index in range(1, len(cluster.homeservers)):
            server = cluster.homeserver(index).server_name
            changes = PartnerChanges(
                organisation=AGENCIES[(index - 1) % len(AGENCIES)],
                lawful_basis="public_task",
                contacts=(
                    Contact(matrix_id=cluster.admin(index).user_id),
                    Contact(email=partner_email(index)),
                ),
                retention_days=365,
                jurisdiction="DE",
                agreement_ref=f"DEMO-SHARING-{index + 1}",
                agreement_version="1.0",
                receiver=index in receivers,
            )
            await register.set(server, changes, "cli:demo")
    finally:
        await db.close()
