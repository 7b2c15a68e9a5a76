"""Personas of Rocket.Chat people (``uow.personas``): rooms under policy ``minimise``
show them instead of their ghosts (bridge.privacy.personas)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.bridging_rows import PersonaRow
from bridge.storage.common import insert_ignoring_conflicts, rowcount


@dataclass(frozen=True)
class Persona:
    matrix_user_id: str
    rc_user_id: str
    display_name: str
    named_ms: int | None = None


def _persona(r: PersonaRow) -> Persona:
    return Persona(r.matrix_user_id, r.rc_user_id, r.display_name, r.named_ms)


class PersonaStore:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, matrix_user_id: str) -> Persona | None:
        r = await self._s.get(PersonaRow, matrix_user_id)
        return None if r is None else _persona(r)

    async def of_person(self, rc_user_id: str) -> list[Persona]:
        rows = await self._s.scalars(
            select(PersonaRow)
            .where(PersonaRow.rc_user_id == rc_user_id)
            .order_by(PersonaRow.matrix_user_id)
        )
        return [_persona(r) for r in rows]

    async def save(self, persona: Persona) -> None:
        """Add the persona; once it was named on the homeserver, remember when."""
        await self._s.execute(
            insert_ignoring_conflicts(self._s, PersonaRow.__table__).values(
                matrix_user_id=persona.matrix_user_id,
                rc_user_id=persona.rc_user_id,
                display_name=persona.display_name,
                named_ms=persona.named_ms,
            )
        )
        if persona.named_ms is not None:
            await self._s.execute(
                update(PersonaRow)
                .where(
                    PersonaRow.matrix_user_id == persona.matrix_user_id,
                    PersonaRow.named_ms.is_(None),
                )
                .values(named_ms=persona.named_ms)
            )

    async def drop_person(self, rc_user_id: str) -> int:
        result = await self._s.execute(
            delete(PersonaRow).where(PersonaRow.rc_user_id == rc_user_id)
        )
        return rowcount(result)
