"""Statistics and budgets of latency.py against values worked out by hand in the comments."""
import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils.latency import (
    breaches, fmt_number, mean, percentile, pstdev, rfc3550_jitter, summarize, validate_budget)

MS = 1000000  # ns


def samples_from(rtts_ms, interval_ms=10):
    """(send_ns, recv_ns) pairs for probes sent interval_ms apart with the given round trips."""
    return [(i * interval_ms * MS, i * interval_ms * MS + int(r * MS)) for i, r in enumerate(rtts_ms)]


# ---- percentiles: type 7, h = (n - 1) q


def test_percentile_interpolates_between_ranks():
    x = [1.0, 2.0, 3.0, 4.0]
    assert percentile(x, 0.5) == pytest.approx(2.5)  # h = 1.5
    assert percentile(x, 0.9) == pytest.approx(3.7)  # h = 2.7 -> 3 + 0.7 * (4 - 3)
    assert percentile(x, 0.99) == pytest.approx(3.97)  # h = 2.97
    assert percentile(x, 0.0) == 1.0
    assert percentile(x, 1.0) == 4.0


def test_percentile_odd_count_hits_the_middle_rank():
    assert percentile([1, 5, 9], 0.5) == 5  # h = 1 exactly


def test_percentile_edges():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([3.0, 3.0, 3.0], 0.9) == 3.0
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_mean_and_population_stddev():
    x = [2, 4, 4, 4, 5, 5, 7, 9]  # mean 5, squared deviations sum 32, 32 / 8 = 4
    assert mean(x) == 5
    assert pstdev(x) == pytest.approx(2.0)
    assert pstdev([3.0]) == 0.0
    assert pstdev([]) is None and mean([]) is None


# ---- RFC 3550 jitter


def test_jitter_hand_computed():
    # RTTs 1, 3, 2, 2 ms -> D = +2, -1, 0 ms
    # J1 = 2/16 = 0.125; J2 = 0.125 + (1 - 0.125)/16 = 0.1796875; J3 = J2 * 15/16 = 0.168457031...
    j = rfc3550_jitter(samples_from([1, 3, 2, 2]))
    assert j / MS == pytest.approx(0.1684570, abs=1e-6)


def test_jitter_uses_arrival_order():
    # Probe 0 (sent 0, back at 30 ms), probe 1 (sent 10, back at 12), probe 2 (sent 20, back at 33).
    # Arrival order 1, 0, 2: D(1,0) = (30 - 12) - (0 - 10) = 28; D(0,2) = (33 - 30) - (20 - 0) = -17.
    # J = 28/16 = 1.75; J = 1.75 + (17 - 1.75)/16 = 2.703125 ms.
    s = [(0, 30 * MS), (10 * MS, 12 * MS), (20 * MS, 33 * MS)]
    assert rfc3550_jitter(s) / MS == pytest.approx(2.703125)


def test_jitter_constant_delay_is_zero_and_needs_two_replies():
    assert rfc3550_jitter(samples_from([5, 5, 5, 5])) == 0.0
    assert rfc3550_jitter(samples_from([5])) is None
    assert rfc3550_jitter([]) is None


def test_jitter_converges_towards_mean_abs_difference():
    # Alternating 1/3 ms: |D| = 2 ms every time; after n steps J = 2 (1 - (15/16)^n).
    j = rfc3550_jitter(samples_from([1, 3] * 100))
    assert j / MS == pytest.approx(2 * (1 - (15.0 / 16) ** 199), rel=1e-9)


# ---- summaries


def test_summary_hand_computed():
    s = summarize(5, samples_from([1, 2, 3, 4]))  # one probe lost
    assert (s['sent'], s['received'], s['loss_pct']) == (5, 4, 20.0)
    assert (s['min_ms'], s['max_ms'], s['mean_ms'], s['p50_ms']) == (1.0, 4.0, 2.5, 2.5)
    assert (s['p90_ms'], s['p99_ms']) == (3.7, 3.97)
    assert s['stddev_ms'] == pytest.approx(1.118, abs=0.0005)  # sqrt(1.25)
    assert s['rtts_ms'] == [1.0, 2.0, 3.0, 4.0]


def test_summary_rounds_to_microseconds():
    s = summarize(1, [(0, 1234567)])
    assert s['p50_ms'] == 1.235 and s['min_ms'] == 1.235


def test_summary_all_lost():
    s = summarize(10, [])
    assert s['loss_pct'] == 100.0 and s['received'] == 0
    for key in ('min_ms', 'mean_ms', 'p50_ms', 'p90_ms', 'p99_ms', 'max_ms', 'stddev_ms', 'jitter_ms'):
        assert s[key] is None, key


def test_summary_one_sample():
    s = summarize(1, [(0, 2 * MS)])
    assert s['p50_ms'] == s['p99_ms'] == s['min_ms'] == s['max_ms'] == 2.0
    assert s['stddev_ms'] == 0.0 and s['jitter_ms'] is None


def test_summary_identical_samples():
    s = summarize(3, samples_from([0.5, 0.5, 0.5]))
    assert s['p99_ms'] == s['p50_ms'] == 0.5
    assert s['stddev_ms'] == 0.0 and s['jitter_ms'] == 0.0


def test_summary_rejects_more_replies_than_probes():
    with pytest.raises(ValueError):
        summarize(1, samples_from([1, 2]))


# ---- budgets


def test_validate_budget():
    assert validate_budget(None, 'b') == {}
    assert validate_budget({'p99_ms': 5, 'loss_pct': None}, 'b') == {'p99_ms': 5.0}
    for bad, words in (({'p99_ms': -1}, 'b.p99_ms: -1'), ({'loss_pct': 101}, 'above 100'),
                       ({'p95_ms': 1}, 'b.p95_ms: unknown'), ({'p50_ms': 'fast'}, 'not a number'),
                       ({'jitter_ms': float('nan')}, 'jitter_ms')):
        with pytest.raises(ValueError) as e:
            validate_budget(bad, 'b')
        assert words in str(e.value)


def test_fmt_number():
    assert [fmt_number(v) for v in (7.9, 5, 0.047, 12.3456, 0)] == ['7.9', '5.0', '0.047', '12.346', '0.0']


def test_breaches_plain_strings():
    stats = summarize(10, samples_from([7.9] * 8))  # 2 of 10 lost
    found = breaches('oslo-ix', stats, {'p50_ms': 10.0, 'p99_ms': 5.0, 'loss_pct': 5.0, 'jitter_ms': 0.0})
    assert found == ['oslo-ix p99 7.9 ms > budget 5.0 ms', 'oslo-ix loss 20.0 % > budget 5.0 %']


def test_value_equal_to_budget_is_not_a_breach():
    stats = summarize(2, samples_from([5.0, 5.0]))
    assert breaches('a', stats, {'p50_ms': 5.0, 'p99_ms': 5.0, 'loss_pct': 0.0}) == []


def test_budget_without_replies_is_a_breach():
    stats = summarize(4, [])
    assert breaches('dead', stats, {'p99_ms': 5.0}) == [
        'dead p99 unavailable: 0 of 4 probes answered (budget 5.0 ms)']
    assert breaches('dead', stats, {}) == []
