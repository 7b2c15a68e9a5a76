"""The dashboard's dead-letter page: outbound actions given up, with retry and drop.

The buttons are POST forms carrying the session's CSRF token (checked by the dashboard's
middleware like every other POST); each decision is written to the audit log with the
logged-in actor. The page never shows an action's payload, only what it was and why it
was given up.
"""

from __future__ import annotations

import attrs
from aiohttp import web

from bridge.pipeline import keys
from bridge.storage.common import now_ms
from bridge.web.deps import ACTOR, Deps
from bridge.web.responses import redirect
from bridge.web.views import NotFoundError
from bridge.workers.dead_letters import DeadLetterError, DeadLetters, LetterView, letter_view

DONE_WORDS = {"retried": "queued again at the end of its queue", "dropped": "dropped"}


class OutboxPages:
    def __init__(self, deps: Deps, letters: DeadLetters) -> None:
        self.d = deps
        self._letters = letters

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/outbox", self.dead)
        router.add_post("/outbox/{id}/retry", self.retry)
        router.add_post("/outbox/{id}/drop", self.drop)

    async def dead(self, request: web.Request) -> web.Response:
        now = now_ms()
        letters = [shown(letter_view(x, now)) for x in await self._letters.list()]
        done = request.query.get("done")
        return self.d.render(
            request,
            "outbox.html",
            letters=letters,
            done=DONE_WORDS.get(done or ""),
            done_id=request.query.get("id"),
        )

    async def retry(self, request: web.Request) -> web.StreamResponse:
        action_id = _id(request)
        try:
            await self._letters.retry(action_id, request[ACTOR], "dashboard")
        except DeadLetterError as e:
            raise NotFoundError(str(e.args[0])) from e
        return redirect(f"{self.d.prefix}/outbox?done=retried&id={action_id}")

    async def drop(self, request: web.Request) -> web.StreamResponse:
        action_id = _id(request)
        try:
            await self._letters.drop(action_id, request[ACTOR], "dashboard")
        except DeadLetterError as e:
            raise NotFoundError(str(e.args[0])) from e
        return redirect(f"{self.d.prefix}/outbox?done=dropped&id={action_id}")


def shown(letter: LetterView) -> LetterView:
    """A person's own command queue is named by their account id; the page shows whose
    it is not (the kind and error say what went wrong), so viewing it names no one."""
    if letter.queue.startswith(keys.PRIVACY_QUEUE):
        side = letter.queue.split(":", 2)[1]
        letter = attrs.evolve(letter, queue=f"privacy:{side}:(a person's commands)")
    return letter


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise NotFoundError(f"no dead letter {raw!r}")
    return int(raw)
