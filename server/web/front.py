"""The ASGI app granian serves: the hot OpenAI endpoints on raw ASGI, the rest on Litestar."""

from __future__ import annotations

import contextlib

from litestar import Litestar

from server import pipeline
from server.core.errors import GatewayError, MethodNotAllowed
from server.web.http import (
    ClientGone,
    Incoming,
    JsonOut,
    error_out,
    internal_error,
    send_json,
    send_stream,
    unreadable_body,
)

HOT = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
}


class HotPathRouter:
    """The raw-ASGI router in front of Litestar: `scope['path']` of a hot POST goes straight
    to the pipeline (another method there is a 405); all else to Litestar."""

    def __init__(self, app: Litestar) -> None:
        self.app = app

    @property
    def state(self):
        return self.app.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            op = HOT.get(scope["path"].rstrip("/") or "/")
            if op is not None:
                if scope["method"] == "POST":
                    await self.serve(op, scope, receive, send)
                else:
                    await send_json(send, error_out(MethodNotAllowed(
                        f"Method {scope['method']} is not allowed on {scope['path']}; use POST.",
                        headers={"Allow": "POST"}), pipeline.request_id(scope)))
                return
        await self.app(scope, receive, send)

    async def serve(self, op: str, scope, receive, send) -> None:
        request = Incoming(scope, receive)
        state = self.app.state.gateway
        try:
            out = await pipeline.handle(request, state, op)  # type: ignore[arg-type]
        except GatewayError as error:
            out = error_out(error, pipeline.request_id(scope))
        except ClientGone:
            # granian reports a malformed chunked body exactly like a client that left; without
            # an answer it would send its own plain-text 500. To a client that left, this 400
            # goes nowhere.
            out = error_out(unreadable_body(), pipeline.request_id(scope))
            with contextlib.suppress(Exception):
                await send_json(send, out)
            return
        except Exception as exc:  # a bug: logged with its traceback, a short 500 to the client
            out = internal_error(exc, pipeline.request_id(scope))
        if isinstance(out, JsonOut):
            done = out.finish()
            if done is not None:  # settled and in the ledger before the answer goes out
                await done
            await send_json(send, out)
        else:
            await send_stream(send, receive, out)
