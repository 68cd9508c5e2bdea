"""`gate doctor`: is this site ready? Each check is pass, warn, fail or skip, with a reason.

    config     gateway.toml loads and validates (server.core.settings.load_settings)
    database   the SQLite file: PRAGMA quick_check, migrations applied
    sqlite-vec vec_version() answers in the same binding
    embedder   the semantic cache's GGUF loads and embeds (built first when it is missing)
    upstream   each provider answers its live check (server.providers.live_check.check_all)
    gateway    the gateway running on this config applied all of it (/health/ready config_error)
    disk       free space where the SQLite file and the models live

`--airgap` adds airgap.py: every configured destination inside the site's allowlist, and
a real `gate serve` whose sockets are audited while it serves test traffic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"


@dataclass
class Check:
    name: str
    status: str
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def run(config: Path, *, airgap: bool = False, gate_cmd: list[str] | None = None) -> list[Check]:
    from cli.doctor import site_checks
    from cli.doctor.site_config import load

    loaded = load(config)
    out = [loaded.check]
    if loaded.settings is None:
        return out
    out += site_checks.run_all(loaded.settings)
    if airgap:
        from cli.doctor import airgap as airgap_checks

        out += airgap_checks.run(loaded, gate_cmd=gate_cmd)
    return out


def failed(results: list[Check]) -> bool:
    return any(c.status == FAIL for c in results)
