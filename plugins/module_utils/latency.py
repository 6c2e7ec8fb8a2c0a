# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Latency statistics and budget checks, as pure functions over nanosecond timestamps.

Definitions (docs/latency.md):
- percentiles are exact order statistics with linear interpolation between the two closest ranks
  (Hyndman & Fan type 7, numpy's default): rank h = (n - 1) * q, value = x[floor h] + (h - floor h) * (x[ceil h] - x[floor h]);
- stddev is the population standard deviation (as iputils ping's mdev);
- jitter is the RFC 3550 section 6.4.1 interarrival jitter, J += (|D| - J) / 16 with
  D = (Rj - Ri) - (Sj - Si) over consecutive replies in order of arrival, starting from J = 0;
- loss_pct counts a probe as lost when no reply arrived before the timeout.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math

BUDGET_KEYS = ('p50_ms', 'p99_ms', 'jitter_ms', 'loss_pct')
STAT_KEYS = ('min_ms', 'mean_ms', 'p50_ms', 'p90_ms', 'p99_ms', 'max_ms', 'stddev_ms', 'jitter_ms')
NS_PER_MS = 1000000.0


def percentile(sorted_values, q):
    """q-quantile (0 <= q <= 1) of an ascending list, type-7 linear interpolation; None when empty."""
    if not sorted_values:
        return None
    if q < 0 or q > 1:
        raise ValueError('quantile %r outside 0-1' % (q,))
    h = (len(sorted_values) - 1) * q
    lo = int(math.floor(h))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def mean(values):
    return math.fsum(values) / len(values) if values else None


def pstdev(values):
    """Population standard deviation (divide by n); 0.0 for one sample, None for none."""
    if not values:
        return None
    m = mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values))


def rfc3550_jitter(samples):
    """Interarrival jitter from (send_ns, recv_ns) pairs, in ns; None below two replies.

    Pairs are taken in order of arrival, as RFC 3550 does, so a reordered reply is compared with the reply
    that arrived just before it.
    """
    ordered = sorted(samples, key=lambda s: s[1])
    if len(ordered) < 2:
        return None
    j = 0.0
    for (s_i, r_i), (s_j, r_j) in zip(ordered, ordered[1:]):
        d = (r_j - r_i) - (s_j - s_i)
        j += (abs(d) - j) / 16.0
    return j


def _ms(ns):
    # Microsecond precision: the clocks resolve ns, the path noise is tens of us.
    return None if ns is None else round(ns / NS_PER_MS, 3)


def summarize(sent, samples):
    """Statistics of one target.

    sent: probes sent; samples: (send_ns, recv_ns) of each answered probe (any order).
    Latencies in ms rounded to 1 us; rtts_ms in send order.
    """
    if sent < 0 or len(samples) > sent:
        raise ValueError('%d replies for %d probes sent' % (len(samples), sent))
    in_send_order = sorted(samples)
    rtts = [r - s for s, r in in_send_order]
    ordered = sorted(rtts)
    received = len(rtts)
    return {
        'sent': sent,
        'received': received,
        'loss_pct': round(100.0 * (sent - received) / sent, 3) if sent else None,
        'min_ms': _ms(ordered[0] if ordered else None),
        'mean_ms': _ms(mean(rtts)),
        'p50_ms': _ms(percentile(ordered, 0.50)),
        'p90_ms': _ms(percentile(ordered, 0.90)),
        'p99_ms': _ms(percentile(ordered, 0.99)),
        'max_ms': _ms(ordered[-1] if ordered else None),
        'stddev_ms': _ms(pstdev(rtts)),
        'jitter_ms': _ms(rfc3550_jitter(samples)),
        'rtts_ms': [_ms(v) for v in rtts],
    }


def validate_budget(budget, where):
    """Budget dict with float values; raises ValueError naming where, the value and what is accepted."""
    if budget is None:
        return {}
    if not isinstance(budget, dict):
        raise ValueError('%s: %r is not a dict; accepted keys: %s' % (where, budget, ', '.join(BUDGET_KEYS)))
    clean = {}
    for key, value in budget.items():
        if key not in BUDGET_KEYS:
            raise ValueError('%s.%s: unknown budget key; accepted: %s' % (where, key, ', '.join(BUDGET_KEYS)))
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError('%s.%s: %r is not a number; accepted: a number >= 0' % (where, key, value))
        if math.isnan(number) or number < 0:
            raise ValueError('%s.%s: %r is negative or not a number; accepted: a number >= 0' % (where, key, value))
        if key == 'loss_pct' and number > 100:
            raise ValueError('%s.%s: %r is above 100; accepted: 0-100' % (where, key, value))
        clean[key] = number
    return clean


def fmt_number(value):
    """Up to 3 decimals, at least one: 7.9, 5.0, 0.047."""
    text = '%.3f' % value
    text = text.rstrip('0')
    return text + '0' if text.endswith('.') else text


def breaches(name, stats, budget):
    """Plain-language breaches of one target's budget, in BUDGET_KEYS order.

    A value above its budget is a breach; so is a latency budget that cannot be judged because no reply came back.
    """
    found = []
    for key in BUDGET_KEYS:
        if key not in budget:
            continue
        limit = budget[key]
        label, unit = key.rsplit('_', 1)
        unit = 'ms' if unit == 'ms' else '%'
        value = stats.get(key)
        if value is None:
            found.append('%s %s unavailable: %d of %d probes answered (budget %s %s)'
                         % (name, label, stats.get('received', 0), stats.get('sent', 0), fmt_number(limit), unit))
        elif value > limit:
            found.append('%s %s %s %s > budget %s %s' % (name, label, fmt_number(value), unit, fmt_number(limit), unit))
    return found
