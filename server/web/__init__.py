"""The HTTP entry: the ASGI app, the hot OpenAI routes, Litestar's routes, HTTP and SSE helpers."""
