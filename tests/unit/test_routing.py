"""Breakers, load parsing and balancing, without sockets."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from server.routing.target import Target
from server.providers.openai_compat import load_from_metrics
from server.routing import balance
from server.routing.breaker import Breaker
from server.routing.monitor import ProviderHealth


def test_breaker_opens_half_opens_and_closes():
    b = Breaker(threshold=3, cooldown_s=10)
    for _ in range(2):
        b.failure(0)
    assert b.state == "closed" and b.allow(0)
    b.failure(0)
    assert b.state == "open" and not b.allow(5) and b.retry_in(5) == 5
    assert b.allow(10) and b.state == "half_open"
    assert not b.allow(10)  # one probe at a time
    b.failure(11)
    assert b.state == "open" and not b.allow(15)
    assert b.allow(21)
    b.success()
    assert b.state == "closed" and b.failures == 0 and b.allow(21)


def test_a_success_resets_the_count():
    b = Breaker(threshold=2, cooldown_s=1)
    b.failure(0)
    b.success()
    b.failure(0)
    assert b.state == "closed"


VLLM = """# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="llama"} 3.0
vllm:num_requests_waiting{model_name="llama"} 2.0
vllm:gpu_cache_usage_perc{model_name="llama"} 0.5
"""
LLAMACPP = """llamacpp:requests_processing 1
llamacpp:requests_deferred 4
llamacpp:tokens_predicted_total 100
"""


def test_load_from_vllm_and_llamacpp_metrics():
    assert load_from_metrics(VLLM) == 2 * 2 + 3
    assert load_from_metrics(LLAMACPP) == 4 * 2 + 1
    assert load_from_metrics("process_cpu_seconds_total 4\n") is None
    assert load_from_metrics("vllm:num_requests_running{a=\"b\"} notanumber\n") is None


def target(name: str, load: float | None = None, inflight: int = 0, state: str = "closed") -> Target:
    health = ProviderHealth(name, Breaker(3, 10), inflight=inflight, load=load)
    health.breaker.state = state
    return Target(SimpleNamespace(name=name), "m", health=health)  # type: ignore[arg-type]


def test_least_busy_uses_reported_load_and_inflight_and_avoids_open_breakers():
    a, b, c = target("a", load=5), target("b", load=1, inflight=1), target("c", load=0, state="open")
    assert [t.provider.name for t in balance.order([a, b, c], "least_busy", {})] == ["b", "a", "c"]


def test_weighted_order_follows_the_weights():
    a, b = target("a"), target("b")
    firsts = Counter(balance.order([a, b], "weighted", {"a:m": 9, "b:m": 1})[0].provider.name
                     for _ in range(4000))
    assert 0.85 < firsts["a"] / 4000 < 0.95
