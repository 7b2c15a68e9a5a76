"""What the Rocket.Chat connector's erasure executors need, from the privacy layer.

A ``rooms.cleanHistory`` removes one person's messages by username, up to the request's
scope; a shadow scrub finds the shadow account by its Matrix user. Both are decided here,
when the action is queued, so the connector reads no erasure state
(bridge.privacy.erasure_inputs); the completers fill the same in for rows an older version
queued with only the request's id.
"""

from __future__ import annotations

from bridge.pipeline.contracts import PermanentFailure
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy.categories import Origin
from bridge.privacy.erasure_inputs import Completer, request_of
from bridge.privacy.erasure_kinds import Cleaning, RCClean, ShadowScrub
from bridge.storage.database import UnitOfWork
from bridge.storage.erasure import RequestRecord


async def cleaning(uow: UnitOfWork, request: RequestRecord) -> Cleaning:
    """Whose messages a cleanHistory of ``request`` removes: a Rocket.Chat user by their
    own username, a Matrix user by their shadow's (none known: None)."""
    if request.subject_origin == Origin.ROCKETCHAT:
        username = request.subject_rc_username
    else:
        shadow = await uow.bridging.shadow(request.subject_matrix_id or "")
        username = None if shadow is None else shadow.rc_username
    return Cleaning(username, request.scope_before_ms)


async def _complete_clean(uow: UnitOfWork, payload: RCClean) -> RCClean:
    request = await request_of(uow, payload.request_id)
    return RCClean(payload.request_id, payload.rc_room_id, await cleaning(uow, request))


async def _complete_shadow(uow: UnitOfWork, payload: ShadowScrub) -> ShadowScrub:
    request = await request_of(uow, payload.request_id)
    if request.subject_matrix_id is None:
        raise PermanentFailure("the erasure request names no Matrix user")
    return ShadowScrub(payload.request_id, payload.step, request.subject_matrix_id)


COMPLETERS: dict[str, Completer[RCClean] | Completer[ShadowScrub]] = {
    kinds.RC_CLEAN: Completer(lambda p: p.inputs is None, _complete_clean),
    kinds.SHADOW_SCRUB: Completer(lambda p: p.matrix_user_id is None, _complete_shadow),
}
