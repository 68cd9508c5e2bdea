"""The secret detector: provider key shapes, context-gated AWS secrets, JWTs, private keys."""

from __future__ import annotations

import base64
import json

import pytest

from server.guardrails.credentials import SecretDetector

RANDOM36 = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
assert len(RANDOM36) == 36


def secrets_in(text: str) -> list[tuple[str, str]]:
    return [(f.detail, f.text) for f in SecretDetector().detect(text)]


def b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "kind, token",
    [
        ("aws_access_key", "AKIAZ3QF7R2KXW4TNB6P"),
        ("aws_access_key", "ASIAQ7W2E4R6T8Y1U3I5"),
        ("github_token", "ghp_" + RANDOM36),
        ("github_token", "ghs_" + RANDOM36),
        ("github_token", "github_pat_11ABCDEFG0" + "x7Yk2" * 12),
        ("gitlab_token", "glpat-Ab3De5Gh7Jk9Lm1Np3Qr"),
        ("slack_token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
        ("stripe_key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ("stripe_key", "rk_live_51H8fTzB3dE5fG7hJ9kL1m"),
        ("google_api_key", "AIzaSyD3x4Mp7Q2rT8vW1yZ5bC9eF0gH6jK3lN0"),
        ("huggingface_token", "hf_" + RANDOM36[:34]),
        ("api_key", "sk-proj-" + RANDOM36 + "_-Zz9"),
        ("api_key", "sk-" + RANDOM36 + "Ab12Cd34Ef56"),
        ("api_key", "sk-gate-" + "Qm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZmdo_-x"),
        ("api_key", "sk-ant-api03-" + RANDOM36 + RANDOM36),
    ],
)
def test_provider_keys(kind: str, token: str) -> None:
    assert secrets_in(f"key = '{token}' # rotate") == [(kind, token)]


@pytest.mark.parametrize(
    "text",
    [
        "sklearn and sk-learn are the same library",
        "the package sk-learn-compatible-estimators-pipeline",
        "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "AKIAXXXXXXXXXXXXXXXX",
        "OPENAI_API_KEY=sk-... in .env",
        "sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "xoxb-your-token",
        "Stripe keys start with sk_live_",
        "ghp_" + RANDOM36[:30],  # too short for a GitHub token
    ],
)
def test_not_keys(text: str) -> None:
    assert secrets_in(text) == []


def test_aws_secret_needs_aws_context() -> None:
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ3k8T2vLa"
    assert len(key) == 40
    assert secrets_in(f"aws_secret_access_key = {key}") == [("aws_secret_key", key)]
    assert secrets_in(f"AWS_SECRET_ACCESS_KEY={key}") == [("aws_secret_key", key)]
    assert secrets_in(f"checksum {key} of the tarball") == []


def test_git_sha_near_aws_word_is_not_a_secret() -> None:
    assert secrets_in("aws-cli commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it") == []


def test_jwt_needs_a_json_header() -> None:
    header = b64url({"alg": "HS256", "typ": "JWT"})
    payload = b64url({"sub": "42"})
    token = f"{header}.{payload}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    assert secrets_in(f"Bearer {token}") == [("jwt", token)]
    fake = "eyJub3QganNvbiBhdCBhbGw.eyJzdWIiOiI0MiJ9.c2ln"  # header decodes to 'not json at all'
    assert secrets_in(fake) == []


def test_private_key_block_whole() -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3Tz2\nq7Xb9\n-----END RSA PRIVATE KEY-----"
    assert secrets_in(f"here:\n{key}\nthanks") == [("private_key", key)]


def test_truncated_private_key_runs_to_the_last_base64_line() -> None:
    text = "paste:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQm9vYmFy"
    [(kind, found)] = secrets_in(text)
    assert kind == "private_key" and found.endswith("\nQm9vYmFy")


def test_public_material_is_not_secret() -> None:
    assert secrets_in("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0C\n-----END PUBLIC KEY-----") == []
    assert secrets_in("-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+g\n-----END CERTIFICATE-----") == []
