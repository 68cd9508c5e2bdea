"""The CLI's fixtures: a copy of the default gateway.toml in tmp_path, a runner, and a
recording admin server."""

from __future__ import annotations

import shutil
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.fake_upstream import free_port

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> Path:
    for name in ("GATE_DB", "GATE_ADMIN_TOKEN", "GATE_CONFIG", "GATE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "gateway.toml"
    shutil.copy(ROOT / "gateway.toml", path)
    return path


def gate(cfg: Path, *args: str):
    return runner.invoke(app, ["--config", str(cfg), *args], catch_exceptions=False)


class Recorder:
    """A server on 127.0.0.1 that keeps (method, path, query) of every request and answers
    `status` (with `location`, for a redirect) and an empty JSON list ({"removed": 0} for a
    cache clear)."""

    def __init__(self, status: int = 200, location: str | None = None) -> None:
        self.seen: list[tuple[str, str, dict[str, list[str]]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                owner.seen.append((self.command, url.path, urllib.parse.parse_qs(url.query, keep_blank_values=True)))
                body = b'{"removed": 0}' if url.path.endswith("/cache/clear") else b"[]"
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
