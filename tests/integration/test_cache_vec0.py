"""The semantic cache searched with sqlite-vec's vec0 table instead of the in-memory copy."""

from __future__ import annotations

import pytest

from tests.integration.test_cache import (  # noqa: F401 (collected here with this module's config)
    config_extra,
    test_scopes_keep_tenants_apart,
    test_semantic_hit_for_a_paraphrase_not_for_a_look_alike,
    test_ttl_and_clear,
)


@pytest.fixture
def config_cache() -> str:
    return 'index = "sqlite-vec"'
