"""Edit gateway.toml in place with tomlkit, keeping its comments and layout.

Every edit is validated as a whole file before it is written, and written atomically, so
the file on disk is never invalid or half-written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import tomlkit
from tomlkit.toml_document import TOMLDocument

from server.core.settings import ConfigError, parse_settings
from server.guardrails.policies import compile_policies


def edit(path: Path, change: Callable[[TOMLDocument], None]) -> None:
    try:
        doc = tomlkit.parse(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    change(doc)
    text = tomlkit.dumps(doc)
    settings = parse_settings(text, str(path))  # raises ConfigError: nothing is written
    compile_policies(settings.guardrails, str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def table(doc: TOMLDocument, name: str) -> tomlkit.items.Table:
    """The top-level table `name`, created (as a super-table) when missing."""
    if name not in doc:
        doc.add(tomlkit.nl())
        doc.add(name, tomlkit.table(is_super_table=True))
    return doc[name]  # type: ignore[return-value]
