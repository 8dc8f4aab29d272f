"""The limiter's padding is learned from OKX's answers (okxapi/ratelimit.py, module docstring):
it follows the spread of grant -> answer delays, a 50011 widens it at once and it relaxes, both
limiters agree, and a burst against the simulator with its clock 1 s off ours and a jittery
network gets no 50011 and never more than OKX's count inside one of OKX's windows."""

from __future__ import annotations

import itertools
import threading
import uuid

import pytest

from okxapi import ENDPOINT_LIMITS, Client, Connection, Limit, LocalLimiter, OkxError, RedisLimiter, Rule
from okxapi.ratelimit import MIN_SAMPLES, PAD_FLOOR_SECONDS, RELAX_HALF_LIFE_SECONDS, SAMPLES

SUB_BALANCES = "/api/v5/account/subaccount/balances"
FUNDING = "/api/v5/asset/balances"
TWO_SECONDS = Limit(6, 2, Rule.UID)  # OKX's limit on the sub-account balance endpoints


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prefix(redis_client):
    name = f"test:okxapi:padding:{uuid.uuid4().hex}"
    yield name
    for key in redis_client.scan_iter(f"{name}:*"):
        redis_client.delete(key)


@pytest.fixture(params=["local", "redis"])
def limiter(request, redis_client, prefix):
    """Each limiter, with a fake clock for the relaxing of a widening."""
    clock = FakeClock()
    if request.param == "local":
        return LocalLimiter(clock=clock), clock
    return RedisLimiter(redis_client, prefix=prefix, clock=clock), clock


def padding_of(limiter, endpoint: str = SUB_BALANCES, limit: Limit = TWO_SECONDS) -> float:
    return limiter.window(endpoint, limit) - limit.seconds


def test_before_any_answer_the_window_is_padded_by_ten_percent_and_100_ms(limiter):
    limiter, _ = limiter
    assert limiter.window(SUB_BALANCES, TWO_SECONDS) == pytest.approx(2.3)
    assert limiter.window(FUNDING, ENDPOINT_LIMITS[FUNDING]) == pytest.approx(1.2)


def test_the_padding_follows_the_spread_of_the_observed_delays(limiter):
    """The answers of every endpoint are pooled (one path to OKX): funding's teach the rest."""
    limiter, _ = limiter
    for delay in (0.080, 0.120, 0.100)[: MIN_SAMPLES - 1]:
        limiter.learn(FUNDING, ENDPOINT_LIMITS[FUNDING], delay)
    assert padding_of(limiter) == pytest.approx(0.3), "too few answers to learn from"

    limiter.learn(FUNDING, ENDPOINT_LIMITS[FUNDING], 0.090)
    # 4 delays over 40 ms: a range of n draws is scaled by (n + 1) / (n - 1).
    assert padding_of(limiter) == pytest.approx(0.040 * 5 / 3, abs=1e-6)

    jittery = itertools.cycle((0.060, 0.260, 0.110))  # a network 200 ms wide
    for _ in range(SAMPLES):
        limiter.learn(SUB_BALANCES, TWO_SECONDS, next(jittery))
    assert padding_of(limiter) == pytest.approx(0.200 * 65 / 63, abs=1e-6)

    for i in range(SAMPLES):  # it quietens down: the wide delays leave the sample
        limiter.learn(SUB_BALANCES, TWO_SECONDS, 0.080 + i % 3 * 0.001)
    assert padding_of(limiter) == pytest.approx(PAD_FLOOR_SECONDS)


def test_a_50011_widens_that_endpoint_s_padding_at_once_and_it_relaxes_back(limiter):
    limiter, clock = limiter
    for delay in (0.050, 0.100) * 32:
        limiter.learn(SUB_BALANCES, TWO_SECONDS, delay)
    learned = 0.050 * 65 / 63
    assert padding_of(limiter) == pytest.approx(learned, abs=1e-6)

    limiter.learn(SUB_BALANCES, TWO_SECONDS, 0.070, rejected=True)
    assert padding_of(limiter) == pytest.approx(2 * learned, abs=1e-6)
    assert padding_of(limiter, FUNDING) == pytest.approx(learned, abs=1e-6), "other endpoints keep theirs"
    clock.now += 0.5
    limiter.learn(SUB_BALANCES, TWO_SECONDS, 0.070, rejected=True)  # the same burst: one event
    assert padding_of(limiter) == pytest.approx(2 * learned, rel=1e-3)
    clock.now += 2.0
    limiter.learn(SUB_BALANCES, TWO_SECONDS, 0.070, rejected=True)  # a window later: again
    assert padding_of(limiter) == pytest.approx(4 * learned, rel=1e-2)

    clock.now += RELAX_HALF_LIFE_SECONDS
    limiter.learn(SUB_BALANCES, TWO_SECONDS, 0.070)
    assert padding_of(limiter) == pytest.approx(2.5 * learned, rel=1e-2)  # 1 + 3 / 2
    clock.now += 10 * RELAX_HALF_LIFE_SECONDS
    limiter.learn(SUB_BALANCES, TWO_SECONDS, 0.070)
    assert padding_of(limiter) == pytest.approx(learned, rel=1e-2)


def test_repeated_50011s_never_pad_a_window_past_its_own_length(limiter):
    limiter, clock = limiter
    for _ in range(12):
        limiter.learn(SUB_BALANCES, TWO_SECONDS, 0.1, rejected=True)
        clock.now += TWO_SECONDS.seconds
    assert limiter.window(SUB_BALANCES, TWO_SECONDS) == pytest.approx(2 * TWO_SECONDS.seconds)


def test_every_process_enforces_what_one_of_them_learned(redis_client, prefix):
    one, other = (RedisLimiter(redis_client, prefix=prefix) for _ in range(2))
    for delay in (0.1, 0.4) * 2:
        one.learn(FUNDING, ENDPOINT_LIMITS[FUNDING], delay)
    limit = Limit(2, 1.0, Rule.UID)
    assert other.window(FUNDING, limit) == pytest.approx(1.5)  # 0.3 s x 5 / 3
    assert other.try_acquire(FUNDING, "uid:1", limit) == 0
    assert one.try_acquire(FUNDING, "uid:1", limit) == 0
    wait = other.try_acquire(FUNDING, "uid:1", limit)
    assert 1.0 < wait <= 1.5, "the third waits for the learned window, longer than OKX's"


def _client(sim, limiter, **options) -> Client:
    key = sim.scenario.key("demo-key-main-read")
    return Client(
        key.api_key, key.secret_key, key.passphrase, demo=key.env == "demo", base_url=sim.url,
        uid=sim.scenario.master.uid, connection=Connection(limiter, **options),
    )  # fmt: skip


def test_the_client_s_answers_teach_the_limiter_and_a_50011_widens_it(make_simulator):
    sim = make_simulator("demo", latency_ms=(5, 10))
    limiter = LocalLimiter()
    client = _client(sim, limiter, max_attempts=1)
    for _ in range(MIN_SAMPLES):
        client.get_account_config()
    learned = padding_of(limiter, FUNDING)
    assert PAD_FLOOR_SECONDS - 1e-9 <= learned < 0.3, "learned from the answers: narrower than the cold rule"

    sim.inject_fault(FUNDING, code="50011", http_status=429)
    with pytest.raises(OkxError) as refused:
        client.get_funding_balances()
    assert refused.value.code == "50011"
    assert padding_of(limiter, FUNDING) == pytest.approx(2 * padding_of(limiter, SUB_BALANCES))


@pytest.mark.parametrize("offset_ms", [1_000, -1_000])
def test_a_burst_with_the_exchange_clock_1_s_off_and_a_jittery_network_gets_no_50011(
    make_simulator, redis_client, prefix, offset_ms
):
    """A clock offset cancels out of relative windows; the jitter is what the padding covers."""
    sim = make_simulator("demo", clock_offset_ms=offset_ms, latency_ms=(20, 40))
    limiter = RedisLimiter(redis_client, prefix=prefix)
    client = _client(sim, limiter, max_attempts=1)
    client.get_server_time()  # what the product does first: learn OKX's clock for signing
    errors: list[OkxError] = []

    def read(times: int) -> None:
        for _ in range(times):
            try:
                client.get_funding_balances()
            except OkxError as error:
                errors.append(error)

    threads = [threading.Thread(target=read, args=(5,)) for _ in range(6)]  # 30 reads, 6 per 1 s
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    stats = sim.stats()[(FUNDING, sim.scenario.master.uid)]
    assert (stats["calls"], stats["rejected"]) == (30, 0)
    assert stats["max_window"] <= ENDPOINT_LIMITS[FUNDING].count
    assert padding_of(limiter, FUNDING, ENDPOINT_LIMITS[FUNDING]) < 0.2, "it learned: not the cold 0.2 s"


# A 50011 when one slow answer (3 s) had pushed the learned spread past a 1 s window: the cap
# on the widening was below 1 then, and the refused endpoint ended up under the floor.
BILLS = "/api/v5/asset/subaccount/bills"  # 6 per 1 s too, never refused


def test_a_50011_after_a_slow_answer_never_narrows_the_padding_below_its_floor(limiter):
    limiter, _ = limiter
    one_second = ENDPOINT_LIMITS[FUNDING]
    for delay in (0.050, 3.0, 0.050, 0.050):  # one answer took 3 s: the spread passes the 1 s window
        limiter.learn(FUNDING, one_second, delay)
    before = padding_of(limiter, FUNDING, one_second)
    limiter.learn(FUNDING, one_second, 0.050, rejected=True)
    assert padding_of(limiter, FUNDING, one_second) >= before, "a 50011 narrowed the window"

    for _ in range(SAMPLES):  # the slow answer leaves the sample: the network is calm again
        limiter.learn(FUNDING, one_second, 0.050)
    refused = padding_of(limiter, FUNDING, one_second)
    never_refused = padding_of(limiter, BILLS, ENDPOINT_LIMITS[BILLS])
    assert refused >= PAD_FLOOR_SECONDS, f"padding {refused * 1000:.1f} ms after a 50011, under the floor"
    assert refused >= never_refused, "the endpoint OKX refused is padded less than one it never refused"
