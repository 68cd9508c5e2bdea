"""Load gateway.toml for the doctor: the validated Settings, the raw table, the allowlist.

`[airgap] allow = ["127.0.0.0/8", "10.0.0.0/8", "gpu1.site.local", "*.site.local"]` names
the networks and hosts a site's gate may reach. Until Settings knows that table it is read
from the raw file here, and taken out before the rest is validated.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

import msgspec

from cli.doctor import FAIL, PASS, Check
from server.core.settings import ConfigError, Settings, config_path, load_settings
from server.guardrails.policies import checked

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$")


@dataclass
class Allowlist:
    networks: list[Network]
    hosts: list[str]  # exact names, or "*.suffix"

    def allows_ip(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return any(addr.version == n.version and addr in n for n in self.networks)

    def allows_name(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.hosts:
            if pattern.startswith("*.") and host.endswith(pattern[1:]):
                return True
            if host == pattern:
                return True
        return False


@dataclass
class Loaded:
    path: Path
    check: Check
    settings: Settings | None = None
    raw: dict | None = None
    allow: Allowlist | None = None
    allow_error: str | None = None


def parse_allow(entries: object) -> Allowlist:
    if not isinstance(entries, list):
        raise ValueError("[airgap] allow must be a list of networks (CIDR) and host names")
    networks, hosts = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise ValueError(f"airgap.allow[{i}]: expected a string")
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        if not _HOST.match(entry):
            raise ValueError(f"airgap.allow[{i}]: '{entry}' is neither a network (CIDR) nor a host name")
        hosts.append(entry.lower().rstrip("."))
    return Allowlist(networks, hosts)


def load(path: Path | None) -> Loaded:
    file = config_path(path)
    try:
        settings = checked(load_settings(file))
        raw = msgspec.toml.decode(file.read_bytes())
    except ConfigError as exc:
        return Loaded(file, Check("config", FAIL, str(exc)))
    loaded = Loaded(file, Check("config", PASS, f"{file}: {len(settings.providers)} providers, "
                                f"{len(settings.models)} models"), settings, raw)
    section = raw.get("airgap")
    if isinstance(section, dict) and "allow" in section:
        try:
            loaded.allow = parse_allow(section["allow"])
        except ValueError as exc:
            loaded.allow_error = f"{file}: {exc}"
    elif section is not None:
        loaded.allow_error = f"{file}: [airgap] needs `allow = [...]`"
    return loaded
