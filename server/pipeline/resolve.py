"""resolve: model alias -> ordered targets the key may use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.core.errors import Forbidden, InvalidRequest, NotFound
from server.pipeline.context import RequestContext
from server.providers.base import ALL_OPS, OP_NAMES

if TYPE_CHECKING:
    from server.runtime.state import GatewayState


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
    # What a model cannot do is refused here, before any budget, cache or upstream sees it.
    if not any(ctx.op in getattr(t.provider, "ops", ALL_OPS) for t in ctx.targets):
        serves = sorted({OP_NAMES[op] for t in ctx.targets for op in getattr(t.provider, "ops", ALL_OPS)})
        raise InvalidRequest(f"The model '{alias}' does not serve {OP_NAMES[ctx.op]}"
                             + (f"; it serves {' and '.join(serves)}." if serves else "."),
                             param="model", code="model_not_supported")
    local_only = ctx.request.headers.get("x-gate-local-only", "").strip().lower()
    ctx.must_stay_local = ctx.must_stay_local or local_only in ("1", "true", "yes")
