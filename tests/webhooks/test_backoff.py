"""The retry schedule's arithmetic, and which answers are worth retrying."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from checkstand.settings import Settings
from checkstand.webhooks.delivery import RetryPolicy, backoff, is_retryable

seconds = st.floats(min_value=0.001, max_value=7 * 24 * 3600, allow_nan=False, allow_infinity=False)
jitters = st.floats(min_value=0, max_value=1)
attempts = st.integers(min_value=1, max_value=100_000)


@st.composite
def policies(draw: st.DrawFn) -> RetryPolicy:
    base = draw(seconds)
    return RetryPolicy(
        base=timedelta(seconds=base),
        max_delay=timedelta(seconds=draw(seconds.filter(lambda cap: cap >= base))),
        window=timedelta(days=3),
    )


@given(policies(), attempts, jitters)
def test_a_delay_is_its_doubled_base_capped_then_jittered_into_the_upper_half(
    policy: RetryPolicy, attempt: int, jitter: float
) -> None:
    delay = backoff(attempt, policy, jitter).total_seconds()
    base, cap = policy.base.total_seconds(), policy.max_delay.total_seconds()
    ceiling = cap if attempt > 64 else min(cap, base * 2 ** (attempt - 1))
    tolerance = 1e-6  # timedelta keeps microseconds
    assert ceiling / 2 - tolerance <= delay <= ceiling + tolerance
    assert delay <= cap + tolerance


@given(policies(), attempts, jitters)
def test_delays_never_shrink_from_one_attempt_to_the_next(policy: RetryPolicy, attempt: int, jitter: float) -> None:
    assert backoff(attempt + 1, policy, jitter) >= backoff(attempt, policy, jitter)


@given(st.lists(jitters, min_size=40, max_size=40))
def test_the_default_schedule_retries_for_about_three_days(draws: list[float]) -> None:
    """With the default settings, whatever the jitter: retries keep going for the whole window and stop there,
    and never wait longer than six hours."""
    policy = RetryPolicy.of(Settings())
    elapsed = timedelta(0)
    tries = 1
    for attempt, jitter in enumerate(draws, start=1):
        delay = backoff(attempt, policy, jitter)
        assert delay <= timedelta(hours=6)
        if elapsed + delay > policy.window:
            break
        elapsed += delay
        tries += 1
    assert policy.window - timedelta(hours=6) < elapsed <= policy.window
    assert 14 <= tries <= 40


@given(st.integers(min_value=100, max_value=599))
def test_server_errors_throttling_and_timeouts_are_retried_other_answers_are_final(status: int) -> None:
    assert is_retryable(status) == (status >= 500 or status in (408, 429))
    assert is_retryable(None)
