"""The ASGI entry point granian imports in each worker (a factory: `server.web.asgi:build`)."""

from __future__ import annotations

import logging

from server.web.app import create_app
from server.web.front import HotPathRouter
from server.core.settings import load_settings


def build() -> HotPathRouter:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(load_settings())
