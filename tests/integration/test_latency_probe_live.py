"""latency_probe end to end: the module run by `ansible localhost` (and once as Ansible runs a module file, with a
JSON args file, inside a network namespace) against tests/tools/delay_responder.py on 127.0.0.1 and ::1.

This kernel has no netem, so delay, jitter and loss are injected by the responder. Tolerances, stated once:
- p50 with 5 ms injected: within +-1.5 ms (the responder's timer overshoot plus a busy 2-core CI box);
  and never below 5 ms, since no answer may leave the responder early;
- loss with 20 % injected over 200 probes: inside the two-sided 1e-6 binomial bounds (computed below);
- jitter with +-5 ms uniform injected around 10 ms (RFC 3550 J tends to E|X-Y| = 10/3 ms): at least 1 ms above
  the no-jitter target's. J weighs the last ~16 replies most, so a burst of load from other work on the machine at
  the end of the run lifts both targets' J (seen: 2 ms on the steady one); the wide injected jitter keeps the
  difference clear of that.
About 10 s in all.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import pytest

from conftest import ROOT, run

CACHE = '/root/.cache/packetjungle-datapath'
COLLECTIONS = os.path.join(CACHE, 'collections')
RESPONDER = os.path.join(ROOT, 'tests', 'tools', 'delay_responder.py')
MODULE_FILE = os.path.join(ROOT, 'plugins', 'modules', 'latency_probe.py')
COUNT = 200
DELAY_MS = 5.0
P50_TOLERANCE_MS = 1.5
LOSS = 0.2


def ansible_env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
                ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
                PATH=os.path.join(CACHE, 'venv', 'bin') + os.pathsep + os.environ.get('PATH', ''))


def probe(args):
    """(rc, host result) of one `ansible localhost -m packetjungle.datapath.latency_probe` run."""
    proc = run(['ansible', 'localhost', '-m', 'packetjungle.datapath.latency_probe', '-a', json.dumps(args)],
               env=ansible_env(), timeout=120)
    out = json.loads(proc.stdout)
    return proc.returncode, out['plays'][0]['tasks'][0]['hosts']['localhost']


def warnings_of(result):
    return [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings', [])]


class Responder(object):
    def __init__(self, *args):
        argv = [sys.executable, RESPONDER, '--max-seconds', '50'] + [str(a) for a in args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        ports = json.loads(line)
        self.udp, self.tcp = ports['udp'], ports['tcp']

    def stop(self):
        self.proc.terminate()
        self.proc.communicate(timeout=10)


@pytest.fixture(scope='module')
def responders():
    started = {
        'delay': Responder('--delay-ms', DELAY_MS),
        'jitter': Responder('--delay-ms', 10, '--jitter-ms', 5, '--jitter-dist', 'uniform', '--seed', 3),
        'loss': Responder('--loss', LOSS, '--seed', 11),
        'v6': Responder('--bind', '::1', '--delay-ms', 1),
    }
    yield started
    for r in started.values():
        r.stop()


@pytest.fixture(scope='module')
def closed_tcp_port():
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope='module')
def main_run(responders, closed_tcp_port):
    """All scenarios as targets of one run: 200 probes each, 10 ms apart, all in one event loop."""
    r = responders
    args = {
        'count': COUNT, 'interval': 0.01, 'timeout': 1.0, 'fail_on_breach': False, 'return_samples': True,
        'targets': [
            {'name': 'delay5', 'address': '127.0.0.1', 'method': 'udp', 'port': r['delay'].udp},
            {'name': 'jitter', 'address': '127.0.0.1', 'method': 'udp', 'port': r['jitter'].udp},
            {'name': 'loss20', 'address': '127.0.0.1', 'method': 'udp', 'port': r['loss'].udp},
            {'name': 'udp6', 'address': '::1', 'method': 'udp', 'port': r['v6'].udp},
            {'name': 'icmp4', 'address': '127.0.0.1'},
            {'name': 'icmp6', 'address': '::1'},
            {'name': 'tcp-open', 'address': '127.0.0.1', 'method': 'tcp', 'port': r['delay'].tcp},
            {'name': 'tcp-rst', 'address': '127.0.0.1', 'method': 'tcp', 'port': closed_tcp_port},
        ],
    }
    rc, result = probe(args)
    assert rc == 0, result
    assert result['changed'] is False and result['breaches'] == []
    return {t['name']: t for t in result['results']}, result


def test_injected_delay_sets_p50(main_run):
    t = main_run[0]['delay5']
    assert t['received'] == t['sent'] == COUNT
    assert abs(t['p50_ms'] - DELAY_MS) <= P50_TOLERANCE_MS, t
    assert t['min_ms'] >= DELAY_MS, 'an answer came back before the responder sent it'
    assert len(t['rtts_ms']) == COUNT


def binomial_bounds(n, p, tail=1e-6):
    """Smallest and largest loss counts outside which each tail holds less than `tail`."""
    pmf = [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]
    lo, acc = 0, 0.0
    while acc + pmf[lo] < tail:
        acc += pmf[lo]
        lo += 1
    hi, acc = n, 0.0
    while acc + pmf[hi] < tail:
        acc += pmf[hi]
        hi -= 1
    return lo, hi


def test_injected_loss_within_binomial_bounds(main_run):
    t = main_run[0]['loss20']
    lo, hi = binomial_bounds(COUNT, LOSS)
    lost = t['sent'] - t['received']
    assert t['sent'] == COUNT
    assert lo <= lost <= hi, (lost, lo, hi)
    assert t['loss_pct'] == pytest.approx(100.0 * lost / COUNT)
    assert t['late'] == 0  # a dropped probe is lost, not late


def test_injected_jitter_shows(main_run):
    jittery, steady = main_run[0]['jitter'], main_run[0]['delay5']
    assert jittery['received'] == COUNT
    assert jittery['jitter_ms'] >= steady['jitter_ms'] + 1.0, (jittery['jitter_ms'], steady['jitter_ms'])
    assert jittery['stddev_ms'] > steady['stddev_ms']


def test_icmp_loopback_v4_and_v6(main_run):
    results, whole = main_run
    for name in ('icmp4', 'icmp6'):
        t = results[name]
        assert (t['sent'], t['received'], t['late']) == (COUNT, COUNT, 0), t
        assert t['max_ms'] < 1000.0
    with open('/proc/sys/net/ipv4/ping_group_range') as f:
        low, high = (int(v) for v in f.read().split())
    expected = 'ping' if low <= os.getgid() <= high else 'raw'
    assert whole['icmp_socket'] == {'ipv4': expected, 'ipv6': expected}


def test_udp_over_ipv6(main_run):
    t = main_run[0]['udp6']
    assert t['received'] == COUNT and t['min_ms'] >= 1.0


def test_tcp_connect_and_rst(main_run):
    opened, reset = main_run[0]['tcp-open'], main_run[0]['tcp-rst']
    assert (opened['received'], opened['refused']) == (COUNT, 0)
    assert (reset['received'], reset['refused']) == (COUNT, COUNT)


def test_breach_fails_the_host(responders):
    rc, result = probe({'count': 20, 'interval': 0.005, 'targets': [
        {'name': 'oslo-ix', 'address': '127.0.0.1', 'method': 'udp', 'port': responders['delay'].udp,
         'budget': {'p50_ms': 1.0, 'loss_pct': 50}}]})
    assert rc != 0 and result['failed'] is True
    assert len(result['breaches']) == 1
    assert result['breaches'][0].startswith('oslo-ix p50 ') and result['breaches'][0].endswith(' ms > budget 1.0 ms')
    assert '1 latency budget breach(es): oslo-ix p50' in result['msg']
    assert result['results'][0]['received'] == 20


def test_breach_warns_without_failing(responders):
    rc, result = probe({'count': 20, 'interval': 0.005, 'fail_on_breach': False, 'targets': [
        {'name': 'oslo-ix', 'address': '127.0.0.1', 'method': 'udp', 'port': responders['delay'].udp,
         'budget': {'p99_ms': 1.0}}]})
    assert rc == 0 and not result.get('failed')
    assert len(result['breaches']) == 1 and 'oslo-ix p99 ' in result['breaches'][0]
    assert warnings_of(result) == ['latency budget breach: %s' % result['breaches'][0]]


def test_bad_input_fails_clearly():
    rc, result = probe({'count': 3, 'targets': [{'address': '127.0.0.1', 'method': 'tcp'}]})
    assert rc != 0
    assert result['msg'] == 'targets[127.0.0.1].port: missing; method tcp needs a port (1-65535)'


def test_ping_socket_in_own_netns():
    """The unprivileged ping-socket path, in a namespace whose ping_group_range admits our group; the module file
    is run the way Ansible runs it (python MODULE ARGS_FILE)."""
    ns = 'pjlat-it-%d' % os.getpid()
    if run(['ip', 'netns', 'add', ns]).returncode != 0:
        pytest.skip('cannot create a network namespace here')
    try:
        gid = os.getgid()
        for argv in (['ip', 'link', 'set', 'lo', 'up'],
                     ['sysctl', '-w', 'net.ipv4.ping_group_range=%d %d' % (gid, gid)]):
            assert run(['ip', 'netns', 'exec', ns] + argv).returncode == 0
        with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
            json.dump({'ANSIBLE_MODULE_ARGS': {'count': 20, 'interval': 0.005, 'targets': [
                {'address': '127.0.0.1'}, {'address': '::1'}]}}, f)
        env = dict(os.environ, PYTHONPATH=COLLECTIONS)
        proc = run(['ip', 'netns', 'exec', ns, sys.executable, MODULE_FILE, f.name], env=env, timeout=60)
        os.unlink(f.name)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result['icmp_socket'] == {'ipv4': 'ping', 'ipv6': 'ping'}
        assert [t['received'] for t in result['results']] == [20, 20]
    finally:
        run(['ip', 'netns', 'delete', ns])
