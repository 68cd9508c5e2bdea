"""The ASGI entry point granian imports in each worker (a factory: `server.asgi:build`)."""

from __future__ import annotations

import logging

from server.app import create_app
from server.front import Gateway
from server.settings import load_settings


def build() -> Gateway:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(load_settings())
