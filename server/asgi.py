"""The ASGI entry point granian imports in each worker (a factory: `server.asgi:build`)."""

from __future__ import annotations

import logging

from litestar import Litestar

from server.app import create_app
from server.settings import load_settings


def build() -> Litestar:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(load_settings())
