#!/usr/bin/env python
"""Accuracy and scale of the latency_probe engine (figures only, nothing asserted).

Accuracy, on two paths: loopback, and a veth pair between two network namespaces this script creates and deletes
(198.18.0.1 -> 198.18.0.2, RFC 2544 benchmark range):
  - our ICMP p50 against `fping -C N -p 10` p50 on the same path, alternating rounds (differences in us);
  - our UDP p50 against the delay injected by tests/tools/delay_responder.py (0 ms and 5 ms);
  - the timer: time.get_clock_info('perf_counter') and the smallest non-zero step measured.
Scale: N loopback addresses 127.0.x.y (Linux answers ICMP on all of 127/8) x 10 probes from one process, for
N = 10, 100, 1000: wall and CPU time (resource.getrusage), and CPU per additional target.

Traffic goes only to loopback and to the namespaces made here. Usage:
  bench/latency_probe.py [--rounds 3] [--samples 200] [--no-netns]
Results: a Markdown summary on stdout and bench/results/latency_probe.json; method and figures: docs/latency.md.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.environ.get('PJ_COLLECTIONS', '/root/.cache/packetjungle-datapath/collections')
sys.path.insert(0, COLLECTIONS)

from ansible_collections.packetjungle.datapath.plugins.module_utils.latency import percentile, summarize  # noqa: E402
from ansible_collections.packetjungle.datapath.plugins.module_utils import prober as prober_mod  # noqa: E402
from ansible_collections.packetjungle.datapath.plugins.module_utils.prober import Prober, plan_targets  # noqa: E402

RESPONDER = os.path.join(ROOT, 'tests', 'tools', 'delay_responder.py')
NS_A, NS_B = 'pjlat-bench-a', 'pjlat-bench-b'
ADDR_A, ADDR_B = '198.18.0.1', '198.18.0.2'


def sh(argv):
    proc = subprocess.run(argv, text=True, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc=%d): %s' % (' '.join(argv), proc.returncode, proc.stderr.strip()))
    return proc


def in_ns(ns, argv):
    return ['ip', 'netns', 'exec', ns] + argv if ns else argv


# ---------------------------------------------------------------- probing (also run inside a namespace)


def probe_once(targets, count, interval, timeout=1.0, concurrency=256, payload_size=56):
    """Run the engine in this process; per-target stats, socket kinds, wall and CPU."""
    plans = plan_targets(targets, 'icmp')
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    out = Prober(plans, count, interval, timeout, concurrency, payload_size).run()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stats = []
    for t in out['targets']:
        s = summarize(t['sent'], t['samples'])
        stats.append(dict(s, name=t['plan']['name']))
    return {'stats': stats, 'icmp_socket': out['icmp_socket'], 'wall_s': wall, 'cpu_s': cpu}


def probe_in(ns, targets, count, interval):
    """probe_once in namespace ns (None = here), through this script's `_probe` entry point."""
    if ns is None:
        return probe_once(targets, count, interval)
    argv = in_ns(ns, [sys.executable, os.path.abspath(__file__), '_probe',
                      json.dumps({'targets': targets, 'count': count, 'interval': interval})])
    return json.loads(sh(argv).stdout)


# ---------------------------------------------------------------- measurements


def timer_resolution():
    info = time.get_clock_info('perf_counter')
    clock = time.perf_counter_ns
    smallest = None
    calls = 200000
    start = clock()
    last = start
    for _i in range(calls):
        now = clock()
        if now != last and (smallest is None or now - last < smallest):
            smallest = now - last
        last = now
    return {'implementation': info.implementation, 'resolution_s': info.resolution, 'monotonic': info.monotonic,
            'min_nonzero_step_ns': smallest, 'ns_per_call': (last - start) / float(calls)}


def fping_p50(ns, address, samples):
    fping = shutil.which('fping')
    if fping is None:
        raise RuntimeError('fping is not installed (apt-get install -y fping)')
    # -C prints every round trip (or '-') to stderr: "ADDR : 0.045 0.031 - ...".
    # fping exits 1 when a probe went unanswered; the samples are still there.
    proc = subprocess.run(in_ns(ns, [fping, '-C', str(samples), '-p', '10', '-q', address]), text=True,
                          capture_output=True, check=False)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith(address + ' ')][0]
    values = sorted(float(v) for v in line.split(':', 1)[1].split() if v != '-')
    return percentile(values, 0.5), len(values)


def icmp_vs_fping(ns, address, samples, rounds):
    rows = []
    for i in range(rounds):
        ours = probe_in(ns, [{'address': address, 'name': 'icmp'}], samples, 0.01)
        theirs, answered = fping_p50(ns, address, samples)
        s = ours['stats'][0]
        rows.append({'round': i + 1, 'ours_p50_ms': s['p50_ms'], 'ours_p99_ms': s['p99_ms'],
                     'ours_received': s['received'], 'icmp_socket': ours['icmp_socket'],
                     'fping_p50_ms': round(theirs, 3), 'fping_received': answered,
                     'diff_us': round((s['p50_ms'] - theirs) * 1000, 1)})
    return rows


class Responder(object):
    def __init__(self, ns, bind, delay_ms):
        argv = in_ns(ns, [sys.executable, RESPONDER, '--bind', bind, '--delay-ms', str(delay_ms),
                          '--max-seconds', '120', '--tcp-port', '-1'])
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = json.loads(self.proc.stdout.readline())['udp']

    def stop(self):
        self.proc.terminate()
        self.proc.communicate(timeout=10)


def udp_vs_injected(probe_ns, responder_ns, address, samples):
    rows = []
    for delay in (0.0, 5.0):
        responder = Responder(responder_ns, address, delay)
        try:
            out = probe_in(probe_ns, [{'address': address, 'name': 'udp', 'method': 'udp',
                                       'port': responder.port}], samples, 0.01)
        finally:
            responder.stop()
        s = out['stats'][0]
        rows.append({'injected_ms': delay, 'p50_ms': s['p50_ms'], 'min_ms': s['min_ms'], 'p99_ms': s['p99_ms'],
                     'received': s['received'], 'p50_minus_injected_us': round((s['p50_ms'] - delay) * 1000, 1)})
    return rows


def loopback_addresses(n):
    return ['127.0.%d.%d' % (i // 254, i % 254 + 1) for i in range(n)]


def scale_run(n, interval):
    out = probe_once([{'address': a} for a in loopback_addresses(n)], 10, interval)
    rtts = sorted(s for st in out['stats'] for s in st['rtts_ms'])
    return {'wall_s': round(out['wall_s'], 3), 'cpu_s': round(out['cpu_s'], 3),
            'sent': sum(st['sent'] for st in out['stats']), 'received': len(rtts),
            'p50_ms': percentile(rtts, 0.5), 'p99_ms': round(percentile(rtts, 0.99), 3), 'max_ms': rtts[-1]}


def median_by_cpu(runs):
    return sorted(runs, key=lambda r: r['cpu_s'])[len(runs) // 2]


def scale(rounds):
    rows = []
    for n in (10, 100, 1000):
        runs = [scale_run(n, 0.2) for _r in range(rounds)]
        rows.append(dict(median_by_cpu(runs), targets=n, interval=0.2, variant='default', runs=runs))
    for lo, hi in zip(rows, rows[1:]):
        added = hi['targets'] - lo['targets']
        hi['cpu_ms_per_added_target'] = round((hi['cpu_s'] - lo['cpu_s']) * 1000.0 / added, 3)
    runs = [scale_run(1000, 0.0) for _r in range(rounds)]
    rows.append(dict(median_by_cpu(runs), targets=1000, interval=0.0, variant='as fast as the window allows',
                     runs=runs))
    # The same run timed by when the loop read each reply instead of the kernel's receive stamp.
    real = prober_mod.kernel_rx_ns
    prober_mod.kernel_rx_ns = lambda ancdata: None
    try:
        runs = [scale_run(1000, 0.2) for _r in range(rounds)]
    finally:
        prober_mod.kernel_rx_ns = real
    rows.append(dict(median_by_cpu(runs), targets=1000, interval=0.2, variant='no queue-wait correction',
                     runs=runs))
    return rows


# ---------------------------------------------------------------- namespaces


def netns_up():
    netns_down()
    sh(['ip', 'netns', 'add', NS_A])
    sh(['ip', 'netns', 'add', NS_B])
    sh(['ip', 'link', 'add', 'pjlat-va', 'netns', NS_A, 'type', 'veth', 'peer', 'name', 'pjlat-vb', 'netns', NS_B])
    for ns, dev, addr in ((NS_A, 'pjlat-va', ADDR_A), (NS_B, 'pjlat-vb', ADDR_B)):
        sh(in_ns(ns, ['ip', 'addr', 'add', addr + '/30', 'dev', dev]))
        sh(in_ns(ns, ['ip', 'link', 'set', dev, 'up']))
        sh(in_ns(ns, ['ip', 'link', 'set', 'lo', 'up']))


def allow_ping_socket(ns):
    gid = os.getgid()
    sh(in_ns(ns, ['sysctl', '-q', '-w', 'net.ipv4.ping_group_range=%d %d' % (gid, gid)]))


def netns_down():
    for ns in (NS_A, NS_B):
        subprocess.run(['ip', 'netns', 'delete', ns], capture_output=True, check=False)


# ---------------------------------------------------------------- report


def markdown(res):
    out = ['## latency_probe benchmark (%s, %s, %d CPUs)' % (res['date'], res['kernel'], res['cpus']), '']
    t = res['timer']
    out.append('Timer: perf_counter = %s, resolution %g s, smallest measured step %s ns, %.0f ns per call.'
               % (t['implementation'], t['resolution_s'], t['min_nonzero_step_ns'], t['ns_per_call']))
    for path, data in res['accuracy'].items():
        out += ['', '### %s' % path, '', '| round | socket | ours p50 ms | fping p50 ms | diff us | ours p99 ms |',
                '|---|---|---|---|---|---|']
        for r in data['icmp_vs_fping']:
            out.append('| %d | %s | %.3f | %.3f | %+.1f | %.3f |' % (
                r['round'], '/'.join(sorted(set(r['icmp_socket'].values()))), r['ours_p50_ms'], r['fping_p50_ms'],
                r['diff_us'], r['ours_p99_ms']))
        if not data.get('udp_vs_injected'):
            continue
        out += ['', '| injected ms | UDP p50 ms | min ms | p99 ms | p50 - injected us |', '|---|---|---|---|---|']
        for r in data['udp_vs_injected']:
            out.append('| %.1f | %.3f | %.3f | %.3f | %+.1f |' % (
                r['injected_ms'], r['p50_ms'], r['min_ms'], r['p99_ms'], r['p50_minus_injected_us']))
    out += ['', '### Scale (ICMP to 127.0.x.y, 10 probes per target, window 256; median of %d runs by CPU)'
            % res['rounds'], '',
            '| targets | interval s | variant | answered | wall s | CPU s | CPU ms per added target | p50 ms | p99 ms |'
            ' max ms |', '|---|---|---|---|---|---|---|---|---|---|']
    for r in res['scale']:
        out.append('| %d | %.1f | %s | %d/%d | %.3f | %.3f | %s | %.3f | %.3f | %.3f |' % (
            r['targets'], r['interval'], r['variant'], r['received'], r['sent'], r['wall_s'], r['cpu_s'],
            r.get('cpu_ms_per_added_target', '-'), r['p50_ms'], r['p99_ms'], r['max_ms']))
    return '\n'.join(out)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '_probe':
        args = json.loads(sys.argv[2])
        print(json.dumps(probe_once(args['targets'], args['count'], args['interval'])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--samples', type=int, default=200)
    ap.add_argument('--no-netns', action='store_true', help='loopback only')
    args = ap.parse_args()

    res = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
           'kernel': platform.release(), 'cpus': os.cpu_count(), 'python': platform.python_version(),
           'rounds': args.rounds, 'samples': args.samples, 'timer': timer_resolution(), 'accuracy': {}}
    res['accuracy']['loopback 127.0.0.1'] = {
        'icmp_vs_fping': icmp_vs_fping(None, '127.0.0.1', args.samples, args.rounds),
        'udp_vs_injected': udp_vs_injected(None, None, '127.0.0.1', args.samples)}
    if not args.no_netns:
        try:
            netns_up()
            path = 'veth %s -> %s (netns %s -> %s)' % (ADDR_A, ADDR_B, NS_A, NS_B)
            res['accuracy'][path] = {
                'icmp_vs_fping': icmp_vs_fping(NS_A, ADDR_B, args.samples, args.rounds),
                'udp_vs_injected': udp_vs_injected(NS_A, NS_B, ADDR_B, args.samples)}
            allow_ping_socket(NS_A)
            res['accuracy'][path + ', ping socket'] = {
                'icmp_vs_fping': icmp_vs_fping(NS_A, ADDR_B, args.samples, args.rounds)}
        finally:
            netns_down()
    res['scale'] = scale(args.rounds)
    os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
    with open(os.path.join(ROOT, 'bench', 'results', 'latency_probe.json'), 'w') as f:
        json.dump(res, f, indent=1)
    print(markdown(res))


if __name__ == '__main__':
    main()
