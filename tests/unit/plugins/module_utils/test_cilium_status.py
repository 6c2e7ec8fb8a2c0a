"""cilium_status: the verdicts for samples written to the documented models.StatusResponse
schema (see tests/unit/fixtures/cilium/SOURCES.md: written, not captured)."""
import os

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils.cilium_status import (
    CHECKS,
    CiliumStatusError,
    cannot_check_all,
    evaluate,
    load_status,
)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'cilium')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def run(name, expect_lb_mode='dsr', tunnel='disabled'):
    return evaluate(load_status(fixture(name)), expect_lb_mode, tunnel)


def statuses(checks):
    return dict((name, check['status']) for name, check in checks.items())


def test_healthy_dsr_native():
    checks, summary = run('status_dsr_native.json')
    assert list(checks) == list(CHECKS)
    assert set(statuses(checks).values()) == {'ok'}
    assert checks['kube_proxy_replacement']['detail'] == 'mode True, socket LB enabled'
    assert checks['lb_mode']['detail'] == ('mode DSR, DSR dispatch IP Option/Extension, backend selection Maglev, '
                                           'XDP acceleration Disabled')
    # The agent's pre-sized ip array leaves empty strings in front; they must not show.
    assert checks['devices']['detail'] == 'eth0 (10.0.0.5, fe80::5054:ff:fe12:3456); direct routing device eth0'
    assert checks['routing']['detail'] == 'inter-host Native, host routing BPF'
    assert checks['masquerading']['detail'] == 'mode BPF, IPv4 enabled, IPv6 disabled'
    assert checks['agent_health']['detail'] == ('cilium Ok: 1.18.2 (v1.18.2-5f6a3b2c), kubernetes Ok: 1.34 (v1.34.2) '
                                                '[linux/amd64], kvstore Disabled')
    assert checks['cluster_health']['detail'] == 'cilium-health Ok: Health check OK, 2 nodes known'
    # A controller with past failures but none consecutive is healthy.
    assert checks['controllers']['detail'] == '3 controllers, none failing'
    assert summary == {
        'version': '1.18.2 (v1.18.2-5f6a3b2c)', 'cilium_state': 'Ok', 'kube_proxy_replacement': 'True',
        'lb_mode': 'DSR', 'dsr_dispatch': 'IP Option/Extension', 'devices': ['eth0'],
        'device_ips': {'eth0': ['10.0.0.5', 'fe80::5054:ff:fe12:3456']}, 'direct_routing_device': 'eth0',
        'routing_mode': 'Native', 'tunnel_protocol': 'vxlan', 'host_routing': 'BPF', 'masquerading': 'BPF',
    }


def test_hybrid_is_what_expect_hybrid_wants():
    checks, _summary = run('status_hybrid_native.json', expect_lb_mode='hybrid')
    assert set(statuses(checks).values()) == {'ok'}
    assert checks['lb_mode']['detail'].startswith('mode Hybrid,')


def test_hybrid_is_not_dsr():
    checks, _summary = run('status_hybrid_native.json', expect_lb_mode='dsr')
    assert checks['lb_mode']['status'] == 'problem'
    assert checks['lb_mode']['detail'].endswith('; expected DSR (expect_lb_mode: dsr; Helm loadBalancer.mode)')


def test_dsr_is_not_hybrid():
    checks, _summary = run('status_dsr_native.json', expect_lb_mode='hybrid')
    assert checks['lb_mode']['status'] == 'problem'


def test_snat_vxlan():
    checks, summary = run('status_snat_vxlan.json', expect_lb_mode='snat', tunnel='vxlan')
    assert set(statuses(checks).values()) == {'ok'}
    assert checks['routing']['detail'] == ('inter-host Tunnel (vxlan), host routing Legacy (BPF host routing is off: '
                                           'kernel below 5.10, IPsec, iptables masquerading or no full KPR)')
    # Not compared without expect_masquerade: what was read is reported.
    assert checks['masquerading'] == {'status': 'ok', 'detail': 'mode iptables, IPv4 enabled, IPv6 disabled'}
    assert summary['masquerading'] == 'iptables'


def test_snat_when_dsr_expected_and_tunnel_when_native_expected():
    checks, _summary = run('status_snat_vxlan.json')
    assert checks['lb_mode']['status'] == 'problem'
    assert checks['lb_mode']['detail'].startswith('mode SNAT,')
    assert checks['routing']['status'] == 'problem'
    assert checks['routing']['detail'].endswith('; expected Native (tunnel: disabled; Helm routingMode: native)')


def test_geneve_tunnel_protocol_must_match():
    checks, _summary = run('status_dsr_geneve_tunnel.json', tunnel='geneve')
    assert set(statuses(checks).values()) == {'ok'}
    assert checks['lb_mode']['detail'].startswith('mode DSR, DSR dispatch Geneve')
    checks, _summary = run('status_snat_vxlan.json', expect_lb_mode='snat', tunnel='geneve')
    assert checks['routing']['status'] == 'problem'
    assert checks['routing']['detail'].endswith('expected Tunnel (geneve) (tunnel: geneve; Helm routingMode: tunnel, '
                                                'tunnelProtocol: geneve)')


def test_kpr_disabled():
    checks, summary = run('status_kpr_disabled.json')
    assert statuses(checks) == {
        'kube_proxy_replacement': 'problem', 'lb_mode': 'problem', 'devices': 'not_applicable', 'routing': 'ok',
        'masquerading': 'ok', 'agent_health': 'ok', 'cluster_health': 'ok', 'controllers': 'ok'}
    assert checks['kube_proxy_replacement']['detail'] == ('mode False: kube-proxy replacement is not fully on '
                                                          '(Helm kubeProxyReplacement: true)')
    # omitempty: a disabled feature is an empty object, not enabled: false.
    assert checks['lb_mode']['detail'] == 'NodePort handling is off (features.nodePort.enabled is absent or false)'
    assert summary['devices'] == []
    assert summary['device_ips'] == {}


def test_strict_from_old_agents_is_accepted_and_named():
    checks, summary = run('status_legacy_strict.json')
    assert set(statuses(checks).values()) == {'ok'}
    assert checks['kube_proxy_replacement']['detail'].startswith(
        'mode Strict, the name agents before 1.14 used for full replacement (accepted as True)')
    assert checks['devices']['detail'] == 'eth0; direct routing device eth0'
    assert summary['dsr_dispatch'] is None


@pytest.mark.parametrize('mode', ['Partial', 'Disabled', 'Probe'])
def test_pre_1_14_partial_modes_are_problems(mode):
    status = load_status(fixture('status_legacy_strict.json'))
    status['kube-proxy-replacement']['mode'] = mode
    checks, _summary = evaluate(status)
    assert checks['kube_proxy_replacement']['status'] == 'problem'
    assert checks['kube_proxy_replacement']['detail'].startswith('mode %s:' % mode)


def test_unhealthy_agent():
    checks, summary = run('status_unhealthy.json')
    assert checks['agent_health'] == {'status': 'problem', 'detail': (
        'cilium Warning: Stale status data; kubernetes Failure: Get "https://10.0.0.1:6443/version": dial tcp '
        '10.0.0.1:6443: connect: connection refused; stale probes: check-kubernetes')}
    assert checks['cluster_health']['status'] == 'problem'
    assert checks['cluster_health']['detail'].startswith('cilium-health Failure: Get "http://localhost/v1beta/healthz"')
    assert checks['controllers'] == {'status': 'problem', 'detail': (
        '2 of 3 controllers failing: cilium-health-ep (5 consecutive failures: Get "http://10.217.0.12:4240/hello": '
        'context deadline exceeded); endpoint-gc (1 consecutive failures)')}
    assert summary['cilium_state'] == 'Warning'


def test_health_checking_disabled_is_not_applicable():
    status = load_status(fixture('status_dsr_native.json'))
    status['cluster']['ciliumHealth'] = {'state': 'Disabled'}
    checks, _summary = evaluate(status)
    assert checks['cluster_health'] == {'status': 'not_applicable',
                                        'detail': 'cilium-health Disabled, 2 nodes known (health checking is turned off)'}


def test_kvstore_failure_is_a_problem():
    status = load_status(fixture('status_dsr_native.json'))
    status['kvstore'] = {'state': 'Failure', 'msg': 'etcd: context deadline exceeded'}
    checks, _summary = evaluate(status)
    assert checks['agent_health']['detail'] == 'kvstore Failure: etcd: context deadline exceeded'


def test_missing_fields_are_cannot_check_not_ok():
    checks, summary = run('status_minimal.json')
    assert statuses(checks) == {
        'kube_proxy_replacement': 'ok', 'lb_mode': 'cannot_check', 'devices': 'cannot_check',
        'routing': 'cannot_check', 'masquerading': 'cannot_check', 'agent_health': 'ok',
        'cluster_health': 'cannot_check', 'controllers': 'cannot_check'}
    assert checks['kube_proxy_replacement']['detail'] == 'mode True, socket LB not reported'
    assert checks['masquerading']['detail'] == 'masquerading is absent'
    assert checks['devices']['detail'] == 'kube-proxy-replacement.devices and deviceList are absent'
    assert checks['agent_health']['detail'] == ('cilium Ok: 1.18.2 (v1.18.2-5f6a3b2c), kubernetes not reported, '
                                                'kvstore not reported')
    assert summary['lb_mode'] is None


def test_empty_object():
    checks, summary = evaluate({})
    assert set(statuses(checks).values()) == {'cannot_check'}
    assert checks['agent_health']['detail'] == 'cilium.state is absent'
    assert checks['kube_proxy_replacement']['detail'] == 'kube-proxy-replacement.mode is absent'
    assert summary['devices'] == []


def test_wrong_types_are_cannot_check_with_the_field():
    checks, summary = run('status_wrong_types.json')
    assert set(statuses(checks).values()) == {'cannot_check'}
    assert checks['kube_proxy_replacement']['detail'] == ('kube-proxy-replacement.mode is bool (True), '
                                                          'expected a string')
    assert checks['lb_mode']['detail'] == ("kube-proxy-replacement.features.nodePort is str ('DSR'), "
                                           "expected an object")
    assert checks['devices']['detail'] == "kube-proxy-replacement.devices is str ('eth0'), expected a list"
    assert checks['routing']['detail'] == 'routing is list ([]), expected an object'
    assert checks['masquerading']['detail'] == "masquerading.enabled is str ('true'), expected a boolean"
    assert checks['agent_health']['detail'] == 'cilium.state is int (1), expected a string'
    assert checks['cluster_health']['detail'] == 'cluster is str, expected an object'
    assert checks['controllers']['detail'] == "controllers is dict ({'cilium-health-ep': {}}), expected a list"
    assert summary['kube_proxy_replacement'] is None
    assert summary['devices'] == []


def test_wrong_types_inside_lists():
    status = load_status(fixture('status_dsr_native.json'))
    status['controllers'].append('sync')
    status['kube-proxy-replacement']['deviceList'] = [{'ip': ['10.0.0.5']}]
    checks, _summary = evaluate(status)
    assert checks['controllers'] == {'status': 'cannot_check', 'detail': 'controllers[3] is str, expected an object'}
    assert checks['devices'] == {'status': 'cannot_check', 'detail': 'kube-proxy-replacement.deviceList[0] has no name'}
    status = load_status(fixture('status_dsr_native.json'))
    status['controllers'][1]['status']['consecutive-failure-count'] = '2'
    checks, _summary = evaluate(status)
    assert checks['controllers']['detail'] == ("controllers[1].status.consecutive-failure-count is str ('2'), "
                                               "expected an integer")


def test_null_arrays_are_empty():
    status = load_status(fixture('status_dsr_native.json'))
    status['kube-proxy-replacement']['devices'] = None
    checks, _summary = evaluate(status)
    assert checks['devices']['detail'] == 'eth0 (10.0.0.5, fe80::5054:ff:fe12:3456); direct routing device eth0'
    status['kube-proxy-replacement']['deviceList'] = None
    checks, _summary = evaluate(status)
    assert checks['devices']['status'] == 'problem'
    assert checks['devices']['detail'].startswith('no devices: NodePort and LoadBalancer traffic is handled on no '
                                                  'interface')


def test_truncated_json():
    with pytest.raises(CiliumStatusError, match=r'^the status is not valid JSON \(Expecting'):
        load_status(fixture('status_truncated.json'))


def test_kubectl_error_instead_of_json():
    with pytest.raises(CiliumStatusError) as error:
        load_status(fixture('kubectl_exec_error.txt'))
    assert str(error.value).endswith("it starts with 'error: unable to upgrade connection: container not found "
                                     "(\"cilium-agent\")'")


@pytest.mark.parametrize('text, message', [
    ('', 'the status JSON is empty'),
    ('  \n', 'the status JSON is empty'),
    (None, 'the status JSON is empty'),
    ('null', 'the status JSON is null, expected an object'),
    ('[{"cilium": {"state": "Ok"}}]', 'the status JSON is list, expected an object'),
    ('"Ok"', 'the status JSON is str, expected an object'),
])
def test_not_an_object(text, message):
    with pytest.raises(CiliumStatusError, match='^%s' % message.replace('(', r'\(')):
        load_status(text)


def test_bad_arguments():
    with pytest.raises(ValueError, match="expect_lb_mode: 'maglev' is not one of dsr, hybrid, snat"):
        evaluate({}, 'maglev')
    with pytest.raises(ValueError, match="tunnel: 'ipip' is not one of disabled, vxlan, geneve"):
        evaluate({}, 'dsr', 'ipip')


def test_cannot_check_all():
    checks = cannot_check_all('no cilium agent on this node')
    assert list(checks) == list(CHECKS)
    assert all(c == {'status': 'cannot_check', 'detail': 'no cilium agent on this node'} for c in checks.values())


def test_dsr_dispatch_as_asked():
    checks, _summary = run('status_dsr_geneve_tunnel.json', tunnel='geneve')
    assert evaluate(load_status(fixture('status_dsr_geneve_tunnel.json')), 'dsr', 'geneve', 'geneve')[0] == checks
    checks, _summary = evaluate(load_status(fixture('status_dsr_native.json')), 'dsr', 'disabled', 'geneve')
    assert checks['lb_mode']['status'] == 'problem'
    assert checks['lb_mode']['detail'].endswith('; expected DSR dispatch Geneve (expect_dsr_dispatch: geneve; Helm '
                                                'loadBalancer.dsrDispatch)')
    # SNAT does no DSR: the dispatch the agent still reports does not matter.
    checks, _summary = evaluate(load_status(fixture('status_snat_vxlan.json')), 'snat', 'vxlan', 'geneve')
    assert checks['lb_mode']['status'] == 'ok'


def test_dsr_dispatch_not_reported_by_old_agents_is_named():
    status = load_status(fixture('status_dsr_native.json'))
    del status['kube-proxy-replacement']['features']['nodePort']['dsrMode']
    checks, _summary = evaluate(status, 'dsr', 'disabled', 'opt')
    assert checks['lb_mode']['status'] == 'ok'
    assert checks['lb_mode']['detail'].endswith('; DSR dispatch not reported by this agent')


def test_bad_dsr_dispatch_argument():
    with pytest.raises(ValueError, match="expect_dsr_dispatch: 'vxlan' is not one of geneve, ipip, opt"):
        evaluate({}, 'dsr', 'disabled', 'vxlan')


def test_dsr_dispatch_of_the_wrong_type_is_cannot_check():
    status = load_status(fixture('status_dsr_native.json'))
    status['kube-proxy-replacement']['features']['nodePort']['dsrMode'] = ['Geneve']
    checks, _summary = evaluate(status, 'dsr', 'disabled', 'opt')
    assert checks['lb_mode'] == {'status': 'cannot_check', 'detail': (
        "kube-proxy-replacement.features.nodePort.dsrMode is list (['Geneve']), expected a string")}


def masquerading_as(expect_masquerade, **section):
    """The healthy sample with its masquerading section replaced, judged with expect_masquerade."""
    status = load_status(fixture('status_dsr_native.json'))
    status['masquerading'] = section
    return evaluate(status, 'dsr', 'disabled', None, expect_masquerade)[0]['masquerading']


def run_masquerade(name, expect_masquerade, expect_lb_mode='dsr', tunnel='disabled'):
    return evaluate(load_status(fixture(name)), expect_lb_mode, tunnel, None, expect_masquerade)[0]['masquerading']


def test_masquerading_as_asked():
    assert run_masquerade('status_dsr_native.json', 'bpf') == {
        'status': 'ok', 'detail': 'mode BPF, IPv4 enabled, IPv6 disabled'}
    assert run_masquerade('status_snat_vxlan.json', 'iptables', 'snat', 'vxlan') == {
        'status': 'ok', 'detail': 'mode iptables, IPv4 enabled, IPv6 disabled'}


def test_iptables_masquerading_when_bpf_is_expected_is_a_problem():
    assert run_masquerade('status_snat_vxlan.json', 'bpf', 'snat', 'vxlan') == {'status': 'problem', 'detail': (
        'mode iptables, IPv4 enabled, IPv6 disabled; expected BPF (expect_masquerade: bpf; Helm bpf.masquerade: '
        'true)')}
    assert run_masquerade('status_dsr_native.json', 'iptables') == {'status': 'problem', 'detail': (
        'mode BPF, IPv4 enabled, IPv6 disabled; expected iptables (expect_masquerade: iptables; Helm '
        'bpf.masquerade: false)')}


def test_masquerading_off():
    # What the agent prints with masquerading off: enabled and mode omitted, both protocols false (so omitted).
    assert masquerading_as(None, enabledProtocols={}) == {
        'status': 'ok', 'detail': 'masquerading is off (masquerading.enabled is absent or false)'}
    assert masquerading_as('bpf', enabledProtocols={}) == {'status': 'problem', 'detail': (
        'masquerading is off (masquerading.enabled is absent or false); expected BPF (expect_masquerade: bpf; '
        'Helm enableIPv4Masquerade: true, bpf.masquerade: true)')}
    assert masquerading_as('iptables', enabled=False)['detail'].endswith(
        '; expected iptables (expect_masquerade: iptables; Helm enableIPv4Masquerade: true, bpf.masquerade: false)')


def test_masquerading_details():
    assert masquerading_as('bpf', enabled=True, mode='BPF', **{'ip-masq-agent': True}) == {
        'status': 'ok', 'detail': 'mode BPF, ip-masq-agent'}
    assert masquerading_as('bpf', enabled=True, mode='BPF', enabledProtocols={'ipv4': True, 'ipv6': True}) == {
        'status': 'ok', 'detail': 'mode BPF, IPv4 enabled, IPv6 enabled'}


@pytest.mark.parametrize('expect_masquerade', [None, 'bpf', 'iptables'])
@pytest.mark.parametrize('change, detail', [
    (lambda status: status.pop('masquerading'), 'masquerading is absent'),
    (lambda status: status.update(masquerading=None), 'masquerading is absent'),
    (lambda status: status.update(masquerading='BPF'), "masquerading is str ('BPF'), expected an object"),
    (lambda status: status['masquerading'].update(enabled='true'),
     "masquerading.enabled is str ('true'), expected a boolean"),
    (lambda status: status['masquerading'].pop('mode'), 'masquerading.mode is absent'),
    (lambda status: status['masquerading'].update(mode=1), 'masquerading.mode is int (1), expected a string'),
])
def test_masquerading_unreadable_is_cannot_check(change, detail, expect_masquerade):
    status = load_status(fixture('status_dsr_native.json'))
    change(status)
    checks, _summary = evaluate(status, 'dsr', 'disabled', None, expect_masquerade)
    assert checks['masquerading'] == {'status': 'cannot_check', 'detail': detail}


def test_masquerading_not_compared_without_an_expectation():
    assert masquerading_as(None, enabled=True, mode='iptables') == {'status': 'ok', 'detail': 'mode iptables'}
    assert masquerading_as('iptables', enabled=True, mode='iptables') == {'status': 'ok', 'detail': 'mode iptables'}


def test_bad_masquerade_argument():
    with pytest.raises(ValueError, match="expect_masquerade: 'nft' is not one of bpf, iptables"):
        evaluate({}, 'dsr', 'disabled', None, 'nft')


def test_captured_lab_agent_passes_every_check():
    # Real output of a lab agent (tests/unit/fixtures/cilium/SOURCES.md): the
    # checks must agree with the agent itself, not only with written samples.
    checks, summary = evaluate(load_status(fixture('status_lab_live.json')), 'dsr', 'disabled', 'opt', 'bpf')
    assert set(statuses(checks).values()) == {'ok'}, checks
    assert checks['lb_mode']['detail'] == ('mode DSR, DSR dispatch IP Option/Extension, backend selection Random, '
                                           'XDP acceleration Disabled')
    assert checks['devices']['detail'] == 'eth0 (172.29.88.12); direct routing device eth0'
    assert summary['version'] == '1.19.4 (v1.19.4-95e477fdcf)'
    assert (summary['routing_mode'], summary['host_routing'], summary['masquerading']) == ('Native', 'BPF', 'BPF')
    # No tunnel: the agent leaves tunnel-protocol out entirely.
    assert summary['tunnel_protocol'] is None


@pytest.mark.parametrize('expect, check', [
    (('snat', 'disabled', None, None), 'lb_mode'),
    (('dsr', 'disabled', 'geneve', None), 'lb_mode'),
    (('dsr', 'disabled', 'opt', 'iptables'), 'masquerading'),
    (('dsr', 'vxlan', 'opt', 'bpf'), 'routing'),
])
def test_captured_lab_agent_against_other_expectations(expect, check):
    checks, _summary = evaluate(load_status(fixture('status_lab_live.json')), *expect)
    assert [name for name, verdict in checks.items() if verdict['status'] != 'ok'] == [check]
