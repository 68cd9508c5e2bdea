"""The value types every part of gateway.toml is checked against, and the strict base of
its sections: frozen, unknown keys refused, keyword-only (server/core/settings.py)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

SECRET_REF_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$"
SecretRef = Annotated[str, Meta(pattern=SECRET_REF_PATTERN, description="env:NAME or file:PATH")]
Port = Annotated[int, Meta(ge=1, le=65535)]
Positive = Annotated[int, Meta(ge=1)]
PositiveFloat = Annotated[float, Meta(gt=0)]
Price = Annotated[float, Meta(ge=0)]
Name = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class Strict(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass
