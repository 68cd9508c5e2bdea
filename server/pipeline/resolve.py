"""resolve: model alias -> ordered targets the key may use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.errors import Forbidden, NotFound
from server.pipeline.context import RequestContext

if TYPE_CHECKING:
    from server.state import GatewayState


async def stage(ctx: RequestContext, state: GatewayState) -> None:
    alias = ctx.alias or ""
    route = state.routes.get(alias)
    if route is None:
        raise NotFound(f"The model '{alias}' does not exist on this gateway. "
                       "GET /v1/models lists the models your key may use.", param="model")
    assert ctx.principal is not None
    if not ctx.principal.may_use(alias):
        raise Forbidden(f"Your key may not use the model '{alias}'.", param="model")
    ctx.route = route
    ctx.targets = route.targets()
    local_only = ctx.request.headers.get("x-gate-local-only", "").strip().lower()
    ctx.must_stay_local = ctx.must_stay_local or local_only in ("1", "true", "yes")
