"""latency_probe module: option checks, and what it returns or fails with for real probes on 127.0.0.1."""
import json
import socket
import threading

import pytest
from ansible.module_utils import _internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.packetjungle.datapath.plugins.modules import latency_probe


@pytest.fixture(autouse=True)
def target_side(monkeypatch):
    """The module runs on the target, where module.warn() lands in the result. A controller plugin imported
    anywhere in the same pytest process (the action plugin tests do) switches ansible.module_utils to
    controller mode, where warnings go to the Display instead."""
    monkeypatch.setattr(_internal, 'is_controller', False)


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as e:
            latency_probe.main()
    out = json.loads(capsys.readouterr().out)
    out['_rc'] = e.value.code
    return out


@pytest.fixture
def echo_port():
    """UDP echo on 127.0.0.1 for the duration of one test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    sock.settimeout(0.05)
    done = threading.Event()

    def serve():
        while not done.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except socket.timeout:
                continue
            sock.sendto(data, peer)
    thread = threading.Thread(target=serve)
    thread.start()
    yield sock.getsockname()[1]
    done.set()
    thread.join()
    sock.close()


@pytest.fixture
def closed_udp_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize('args, words', [
    ({'targets': [{'address': '127.0.0.1'}], 'count': 0}, 'count: 0 is not accepted; accepted: an integer >= 1'),
    ({'targets': [{'address': '127.0.0.1', 'method': 'quic'}]}, 'quic'),
    ({'targets': [{'address': '127.0.0.1', 'method': 'tcp'}]}, 'targets[127.0.0.1].port: missing; method tcp'),
    ({'targets': [{'address': '127.0.0.1'}], 'method': 'udp'}, 'targets[127.0.0.1].port: missing; method udp'),
    ({'targets': [{'address': '127.0.0.1', 'budget': {'loss_pct': -5}}]},
     'targets[127.0.0.1].budget.loss_pct: -5.0 is negative or not a number; accepted: a number >= 0'),
    ({'targets': [{'address': '127.0.0.1', 'budget': {'jitter_ms': 1}}], 'count': 1},
     'targets[127.0.0.1].budget.jitter_ms: jitter needs two replies, count is 1'),
    ({'targets': [{'address': '127.0.0.1'}], 'payload_size': 4}, 'payload_size: 4'),
])
def test_bad_input_fails_naming_option_value_and_accepted(capsys, args, words):
    out = run_module(capsys, args)
    assert out['failed'] is True and out['_rc'] == 1
    assert words in out['msg']
    assert 'results' not in out  # nothing was probed


def base(port, **extra):
    args = {'targets': [{'address': '127.0.0.1', 'name': 'echo', 'method': 'udp', 'port': port}],
            'count': 5, 'interval': 0.01, 'timeout': 0.2}
    args.update(extra)
    return args


def test_reports_statistics_read_only(capsys, echo_port):
    out = run_module(capsys, dict(base(echo_port), _ansible_check_mode=True))
    assert out['_rc'] == 0 and out['changed'] is False and out['breaches'] == []
    r = out['results'][0]
    assert (r['name'], r['method'], r['port'], r['sent'], r['received'], r['loss_pct']) == (
        'echo', 'udp', echo_port, 5, 5, 0.0)
    assert 0 < r['min_ms'] <= r['p50_ms'] <= r['p90_ms'] <= r['p99_ms'] <= r['max_ms']
    assert r['jitter_ms'] is not None and r['stddev_ms'] >= 0
    assert 'rtts_ms' not in r


def test_return_samples(capsys, echo_port):
    r = run_module(capsys, base(echo_port, return_samples=True))['results'][0]
    assert len(r['rtts_ms']) == r['received'] == 5
    assert min(r['rtts_ms']) == r['min_ms'] and max(r['rtts_ms']) == r['max_ms']


def test_breach_fails_the_host_with_results(capsys, closed_udp_port):
    args = base(closed_udp_port)
    args['targets'][0]['budget'] = {'loss_pct': 0, 'p99_ms': 5}
    out = run_module(capsys, args)
    assert out['failed'] is True and out['_rc'] == 1
    assert out['breaches'] == ['echo p99 unavailable: 0 of 5 probes answered (budget 5.0 ms)',
                               'echo loss 100.0 % > budget 0.0 %']
    assert '2 latency budget breach(es)' in out['msg']
    assert out['results'][0]['loss_pct'] == 100.0


def test_breach_only_warns_when_asked(capsys, closed_udp_port):
    args = base(closed_udp_port, fail_on_breach=False)
    args['targets'][0]['budget'] = {'loss_pct': 10}
    out = run_module(capsys, args)
    assert out['_rc'] == 0 and not out.get('failed')
    assert out['breaches'] == ['echo loss 100.0 % > budget 10.0 %']
    # ansible-core 2.19 wraps warnings as {'event': {'msg': ...}}; older cores return the plain string.
    warnings = [w['event']['msg'] if isinstance(w, dict) else w for w in out['warnings']]
    assert warnings == ['latency budget breach: echo loss 100.0 % > budget 10.0 %']


def test_within_budget_passes(capsys, echo_port):
    args = base(echo_port)
    args['targets'][0]['budget'] = {'loss_pct': 0, 'p99_ms': 1000}
    out = run_module(capsys, args)
    assert out['_rc'] == 0 and out['breaches'] == [] and out['results'][0]['breaches'] == []
