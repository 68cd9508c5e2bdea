"""Topic allow/deny lists."""

from __future__ import annotations

import pytest

from server.guardrails import TopicPolicy

POLICY = TopicPolicy(
    allow={
        "it_support": ["printer", "VPN", "password reset", r"re:\bticket\s*#?\d+"],
        "hr": ["payslip", "leave request"],
    },
    deny={"weapons": ["firearm", "explosive"], "medical": ["diagnosis", r"re:\bdos(e|age)\s+of\b"]},
)


def test_allowed_topic() -> None:
    result = POLICY.check("My printer shows error 0x61011bed")
    assert result.allowed == ("it_support",) and result.denied == () and not result.blocked


def test_nothing_allowed_matched_blocks_when_an_allow_list_exists() -> None:
    result = POLICY.check("Write me a poem about autumn")
    assert result.allowed == () and not result.allowed_ok and result.blocked


def test_denied_topic_blocks_even_if_allowed() -> None:
    result = POLICY.check("Reset the VPN password, and what dosage of ibuprofen is safe?")
    assert result.denied == ("medical",) and result.allowed == ("it_support",) and result.blocked


def test_keywords_are_whole_words_case_insensitive_plural_and_spacing_tolerant() -> None:
    assert POLICY.denied("FIREARMS and explosives") == ("weapons",)
    assert POLICY.denied("the firearmament museum") == ()
    assert POLICY.check("submit a Leave\n  Request").allowed == ("hr",)


def test_regex_terms() -> None:
    assert POLICY.check("status of ticket #4411?").allowed == ("it_support",)


def test_no_allow_list_allows_everything_not_denied() -> None:
    policy = TopicPolicy(deny={"weapons": ["firearm"]})
    assert policy.allowed("anything") and not policy.check("anything").blocked
    assert policy.check("a firearm").blocked


@pytest.mark.parametrize(
    "allow, deny, message",
    [
        (None, {"x": "firearm"}, "list of terms"),
        (None, {"x": ["re:("]}, "invalid regex"),
        ({"x": []}, None, "no terms"),
    ],
)
def test_validation(allow, deny, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TopicPolicy(allow=allow, deny=deny)
