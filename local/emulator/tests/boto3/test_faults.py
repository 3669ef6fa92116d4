"""Fault injection: deterministic under --seed, both fault kinds, and added latency."""

import time

from botocore.exceptions import ClientError

from helpers import ISV

CALLS = 40


def outcomes(emulator) -> list[str]:
    client = emulator.client(ISV)
    seen = []
    for _ in range(CALLS):
        try:
            client.list_licenses()
            seen.append("ok")
        except ClientError as err:
            seen.append(f'{err.response["Error"]["Code"]}/{err.response["ResponseMetadata"]["HTTPStatusCode"]}')
    return seen


def test_faults_repeat_under_the_same_seed(start_emulator):
    args = ("--fault-rate", "0.5", "--faults", "throttle,internal", "--seed", "42")
    first = outcomes(start_emulator(*args))
    again = outcomes(start_emulator(*args))
    assert first == again

    kinds = set(first)
    assert "ok" in kinds
    assert "ServerInternalException/500" in kinds
    assert "RateLimitExceededException/429" in kinds
    assert 8 <= first.count("ok") <= 32, first

    other = outcomes(start_emulator("--fault-rate", "0.5", "--faults", "throttle,internal", "--seed", "7"))
    assert other != first


def test_only_the_named_fault_kind_is_injected(start_emulator):
    seen = set(outcomes(start_emulator("--fault-rate", "1", "--faults", "throttle", "--seed", "1")))
    assert seen == {"RateLimitExceededException/429"}


def test_latency_is_added_to_every_call(start_emulator):
    client = start_emulator("--latency-ms", "150").client(ISV)
    client.list_licenses()  # connection set up outside the measurement
    started = time.monotonic()
    for _ in range(3):
        client.list_licenses()
    assert time.monotonic() - started >= 0.45
