"""The verifier's behaviour on questions that are NOT in the labelled set, rule by rule."""

from __future__ import annotations

import time

import pytest

from cli.tools import eval_cache
from server.cache.verify import Verdict, analyse, compare, stem, verify

PASS = [
    ("How do I reset my password?", "I forgot my password, how can I reset it?"),
    ("How do I reset my password?", "hi, could you please tell me how to reset my password? thanks"),
    ("How do I cancel my subscription?", "how can i cancel my subscripton"),  # a typo
    ("What's the weather like in Paris?", "What is the weather like in Paris?"),
    ("Can I buy a gift card?", "Is it possible to purchase a gift card?"),
    ("How do I turn on Bluetooth?", "How do I enable Bluetooth?"),
    ("What is the capital of France?", "what's the capital of france"),
    ("How do I share my screen in Teams?", "In Microsoft Teams, how do I share my screen?"),
    ("Where is the nearest ATM?", "where's the closest ATM"),
    ("HOW DO I RESET MY PASSWORD", "how do i reset my password?"),
    ("How Do I Reset My Password", "how do i reset my password?"),
    ("Can I bring 2 bags?", "Can I bring two bags?"),
    ("Is the fee $1,000?", "Is the fee $1000?"),
    ("Who won World War II?", "Who won the Second World War?"),
    ("Which shops are on the 3rd floor?", "Which shops are on the third floor?"),
    ("Is the limit twenty five dollars?", "Is the limit 25 dollars?"),
    ("Why isn't my phone charging?", "Why is my phone not charging?"),
    ("Can I get one refund per order?", "Can I get a refund per order?"),  # "one" ~ "a"
]
REJECT = [
    # (cached, query, the rule that must say no)
    ("Can I bring 2 bags?", "Can I bring 3 bags?", "number"),
    ("What happened in 1999?", "What happened in 2001?", "number"),
    ("How do I install Python 3.12?", "How do I install Python 3.11?", "number"),
    ("When did World War II end?", "When did World War I end?", "number"),
    ("Why is my phone charging?", "Why is my phone not charging?", "negation"),
    ("Can I park here without a permit?", "Can I park here with a permit?", "negation"),
    ("Is the ticket refundable?", "Is the ticket non-refundable?", "negation"),
    ("How do I open a savings account?", "How do I close a savings account?", "antonym"),
    ("How do I enable notifications?", "How do I disable notifications?", "antonym"),
    ("How do I install Docker?", "How do I uninstall Docker?", "antonym"),
    ("Should I take it before meals?", "Should I take it after meals?", "antonym"),
    ("How do I increase the font size?", "How do I reduce the font size?", "antonym"),
    ("How do I upload a file?", "How do I download a file?", "antonym"),
    ("How do I turn on Bluetooth?", "How do I turn off Bluetooth?", "antonym"),
    ("Is the pharmacy open on Sunday?", "Is the pharmacy closed on Sunday?", "antonym"),
    ("How do I mute my microphone?", "How do I unmute my microphone?", "antonym"),
    ("What's the minimum order value?", "What's the maximum order value?", "antonym"),
    ("Are there flights from Paris to Rome tonight?", "Are there flights from Rome to Paris tonight?", "direction"),
    ("How do I convert Celsius to Fahrenheit?", "How do I convert Fahrenheit to Celsius?", "direction"),
    ("How do I renew my passport?", "How much does it cost to renew my passport?", "focus"),
    ("What is the capital of France?", "What is the capital of Germany?", "entity"),
    ("How do I install Node on Ubuntu?", "How do I install Node on Fedora?", "entity"),
    ("Can I pay by Visa?", "Can I pay by Amex?", "entity"),
    ("How tall is Mount Everest?", "How tall is Mount Kilimanjaro?", "entity"),
    ("When does the store open on Monday?", "When does the store open on Tuesday?", "entity"),
    ("How many sick days do I get?", "How many vacation days do I get?", "substitution"),
    ("How do I reset my password?", "How do I delete my account?", "substitution"),
    ("Can I take paracetamol with alcohol?", "Can I take ibuprofen with alcohol?", "substitution"),
]


@pytest.mark.parametrize(("cached", "query"), PASS)
def test_paraphrase_neutral_differences_pass(cached: str, query: str) -> None:
    verdict = verify(query, cached)
    assert verdict.ok and verdict.reason == "ok", verdict


@pytest.mark.parametrize(("cached", "query", "rule"), REJECT)
def test_look_alikes_are_rejected_by_the_right_rule(cached: str, query: str, rule: str) -> None:
    verdict = verify(query, cached)
    assert not verdict.ok
    assert verdict.reason.split(":")[0] == rule, verdict
    # Either way round: the cache may hold either question.
    assert not verify(cached, query).ok


@pytest.mark.parametrize(("cached", "query", "rule"), REJECT)
def test_each_rule_rejects_on_its_own(cached: str, query: str, rule: str) -> None:
    assert not verify(query, cached, (rule,)).ok
    assert verify(query, cached, ()).ok  # no rules: the pair itself is not the reason


def test_other_scripts_and_odd_input_do_not_break_it() -> None:
    assert verify("Où est la gare ?", "Où est la gare?").ok
    assert not verify("Où est la gare de Lyon ?", "Où est la gare du Nord ?").ok
    assert not verify("北京的天气怎么样", "上海的天气怎么样").ok  # unknown words differ: no
    assert verify("", "").ok and verify("???", "!!!").ok
    assert verify("HOW DO I RESET MY PASSWORD", "How do I change my password?").ok  # not acronyms
    assert verify("x" * 5000, "x" * 5000).ok


def test_verdict_is_truthy_only_when_ok() -> None:
    assert Verdict(True, "ok") and not Verdict(False, "number: 3 vs 4")


def test_analysis_normalises_numbers_and_negation() -> None:
    a = analyse("Can't I withdraw 10,000 euros on the 3rd, or twenty five?")
    assert a.numbers == {"10000", "3", "25"}
    assert a.negated
    assert analyse("Who won World War II?").numbers == {"2"}
    assert analyse("Can I go?").numbers == set()  # "I" is a pronoun, not a numeral


def test_stems_fold_word_forms_together() -> None:
    for forms in (("cancel", "cancelled", "cancels"), ("request", "requesting", "requests"),
                  ("make", "making"), ("easy", "easily", "easiest"), ("close", "closing", "closed")):
        assert len({stem(f) for f in forms}) == 1, forms
    assert stem("butter") != stem("but")
    assert stem("everest") == "everest"  # superlatives only for known adjectives


def test_compare_on_kept_analyses_matches_verify() -> None:
    cached = analyse("How do I reset my password?")
    for query in ("I forgot my password, how can I reset it?", "How do I delete my account?"):
        assert compare(analyse(query), cached) == verify(query, "How do I reset my password?")


def test_deterministic_and_well_under_a_millisecond(pairs: list[eval_cache.Pair]) -> None:
    first = [verify(p.b, p.a) for p in pairs]
    start = time.process_time()  # CPU time: a busy machine must not fail this
    second = [verify(p.b, p.a) for p in pairs]
    per_pair = (time.process_time() - start) / len(pairs)
    assert first == second
    assert per_pair < 1e-3, f"{per_pair * 1e6:.0f} us per pair"
