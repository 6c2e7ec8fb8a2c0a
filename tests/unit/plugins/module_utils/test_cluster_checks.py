"""cluster_checks: Cilium agents judged from their pods and `cilium-dbg status -o json` (samples written to the
documented model, tests/unit/fixtures/cilium/SOURCES.md), exec errors and Gateway API objects captured from the
real kube-apiserver of the test harness (tests/unit/fixtures/cluster/SOURCES.md)."""
import copy
import json
import os

from ansible_collections.packetjungle.datapath.plugins.module_utils.cluster_checks import (
    api_error,
    judge_cilium_agents,
    judge_cluster,
    judge_gateway_api,
    pod_readiness,
)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures')


def fixture(area, name):
    with open(os.path.join(FIXTURES, area, name)) as f:
        return f.read()


def pod(name, node, phase='Running', ready='True', **status):
    conditions = [{'type': 'Ready', 'status': ready}] if ready is not None else []
    body = {'phase': phase, 'conditions': conditions}
    body.update(status)
    return {'metadata': {'name': name, 'namespace': 'kube-system'}, 'spec': {'nodeName': node}, 'status': body}


def ran(stdout, rc=0, stderr=''):
    return {'rc': rc, 'stdout': stdout, 'stderr': stderr, 'failed': False}


def test_healthy_agent_is_ok_per_node():
    agents, problems, unchecked = judge_cilium_agents([pod('cilium-a', 'n1')],
                                                      {'cilium-a': ran(fixture('cilium', 'status_dsr_native.json'))})
    assert (problems, unchecked) == ([], [])
    assert agents['n1']['pod'] == 'kube-system/cilium-a'
    assert agents['n1']['status'] == 'ok'
    assert agents['n1']['detail'] == '8 checks, none a problem'
    assert agents['n1']['cilium']['lb_mode'] == 'DSR'
    assert agents['n1']['checks']['routing'] == {'status': 'ok', 'detail': 'inter-host Native, host routing BPF'}


def test_agent_in_the_wrong_mode_is_a_problem_naming_pod_node_and_check():
    agents, problems, _unchecked = judge_cilium_agents(
        [pod('cilium-b', 'n2')], {'cilium-b': ran(fixture('cilium', 'status_snat_vxlan.json'))}, 'dsr', 'disabled')
    assert agents['n2']['status'] == 'problem'
    assert [p.split(': ')[1] for p in problems] == ['lb_mode', 'routing']
    assert problems[0].startswith('cluster cilium agent kube-system/cilium-b on node n2: lb_mode: mode SNAT')
    assert 'expected DSR (expect_lb_mode: dsr' in problems[0]


def test_expectations_reach_the_status_checks():
    _agents, problems, _unchecked = judge_cilium_agents(
        [pod('cilium-h', 'n1')], {'cilium-h': ran(fixture('cilium', 'status_hybrid_native.json'))}, 'hybrid')
    assert problems == []


def test_unhealthy_agent_lists_each_failing_check():
    agents, problems, _unchecked = judge_cilium_agents(
        [pod('cilium-u', 'n3')], {'cilium-u': ran(fixture('cilium', 'status_unhealthy.json'))})
    assert agents['n3']['status'] == 'problem'
    assert {p.split(': ')[1] for p in problems} >= {'agent_health', 'cluster_health', 'controllers'}


def test_truncated_status_is_cannot_check_never_ok():
    agents, problems, unchecked = judge_cilium_agents(
        [pod('cilium-t', 'n1')], {'cilium-t': ran(fixture('cilium', 'status_truncated.json'))})
    assert problems == []
    assert agents['n1']['status'] == 'cannot_check'
    assert len(unchecked) == 8
    assert 'the status is not valid JSON' in unchecked[0] and 'from cilium-dbg status -o json' in unchecked[0]


def test_missing_fields_are_cannot_check():
    agents, _problems, unchecked = judge_cilium_agents(
        [pod('cilium-m', 'n1')], {'cilium-m': ran(fixture('cilium', 'status_minimal.json'))})
    assert agents['n1']['status'] == 'cannot_check'
    assert 'cluster cilium agent kube-system/cilium-m on node n1: routing: routing is absent' in unchecked


def test_exec_refused_by_the_api_server_is_cannot_check_with_its_words():
    result = {'failed': True, 'msg': fixture('cluster', 'k8s_exec_kubelet_unreachable.txt')}
    agents, problems, unchecked = judge_cilium_agents([pod('cilium-a', 'n1')], {'cilium-a': result})
    assert problems == []
    assert agents['n1']['status'] == 'cannot_check' and agents['n1']['checks'] == {}
    assert unchecked == [
        'cluster cilium agent kube-system/cilium-a on node n1: cannot exec cilium-dbg status -o json in container '
        'cilium-agent: the API server answered 500: error dialing backend: dial tcp 127.0.0.1:54069: connect: '
        'connection refused']


def test_api_error_keeps_the_reason_and_passes_other_text_through():
    assert api_error(fixture('cluster', 'k8s_exec_container_not_valid.txt')) == (
        'the API server answered 400 BadRequest: container nope is not valid for pod cilium-a')
    assert api_error('Failed to load kubeconfig') == 'Failed to load kubeconfig'
    truncated = fixture('cluster', 'k8s_exec_kubelet_unreachable.txt')[:-40]
    assert api_error(truncated) == truncated.strip()
    assert api_error(None) == 'no error text'


def test_cilium_dbg_failing_in_the_pod_is_cannot_check():
    agents, _problems, unchecked = judge_cilium_agents(
        [pod('cilium-a', 'n1')], {'cilium-a': ran('', rc=1, stderr='Error: Unable to reach agent: daemon unreachable\n')})
    assert agents['n1']['status'] == 'cannot_check'
    assert unchecked == ['cluster cilium agent kube-system/cilium-a on node n1: cilium-dbg status -o json exited 1: '
                         'Error: Unable to reach agent: daemon unreachable']


def test_pods_not_running_and_ready_are_problems_naming_pod_and_node():
    crashing = pod('cilium-c', 'n2', ready='False', containerStatuses=[
        {'name': 'cilium-agent', 'restartCount': 7, 'state': {'waiting': {'reason': 'CrashLoopBackOff'}}}])
    crashing['status']['conditions'][0].update(reason='ContainersNotReady',
                                               message='containers with unready status: [cilium-agent]')
    pending = pod('cilium-p', None, phase='Pending', ready=None)
    agents, problems, unchecked = judge_cilium_agents([crashing, pending], {})
    assert unchecked == []
    assert problems == [
        'cluster cilium agent kube-system/cilium-p on node (none: not scheduled): not ready: phase Pending, '
        'no Ready condition',
        'cluster cilium agent kube-system/cilium-c on node n2: not ready: phase Running, Ready False '
        '(ContainersNotReady: containers with unready status: [cilium-agent]), container cilium-agent waiting: '
        'CrashLoopBackOff, container cilium-agent restarted 7 times',
    ]
    assert sorted(agents) == ['(not scheduled)', 'n2']


def test_pod_readiness():
    assert pod_readiness(pod('a', 'n1')) == (True, None)
    assert pod_readiness(pod('a', 'n1', phase='Succeeded')) == (False, 'phase Succeeded, Ready True')
    assert pod_readiness({'status': {}}) == (False, 'phase no phase, no Ready condition')


def test_ready_pod_without_exec_result_is_cannot_check():
    agents, _problems, unchecked = judge_cilium_agents([pod('cilium-a', 'n1')], {})
    assert agents['n1']['status'] == 'cannot_check'
    assert unchecked == ['cluster cilium agent kube-system/cilium-a on node n1: cilium-dbg status -o json was not '
                         'run in the pod']


def test_no_agent_pod_is_a_problem():
    assert judge_cilium_agents([], {}) == ({}, [
        'cluster cilium agents: no pod in kube-system with label k8s-app=cilium: the cilium DaemonSet runs no agent'
    ], [])


def test_two_agents_on_one_node_during_a_rollout_are_both_kept():
    status = ran(fixture('cilium', 'status_dsr_native.json'))
    agents, _problems, _unchecked = judge_cilium_agents([pod('cilium-old', 'n1'), pod('cilium-new', 'n1')],
                                                        {'cilium-old': status, 'cilium-new': status})
    assert sorted(agents) == ['n1', 'n1 (cilium-old)']


GATEWAYS = [{'name': 'public', 'namespace': 'vc-gw', 'gateway_class_name': 'cilium',
             'listeners': [{'name': 'http', 'port': 80, 'protocol': 'HTTP', 'allowed_routes': {'from': 'All'}}]}]
ROUTES = [{'name': 'shop', 'namespace': 'vc-shop-routes',
           'parent_refs': [{'name': 'public', 'namespace': 'vc-gw', 'section_name': 'http'}],
           'rules': [{'backend_refs': [{'name': 'api', 'port': 8080}]}]}]


def live(name):
    return json.loads(fixture('cluster', name))


def test_gateway_api_accepted_is_ok():
    objects, problems, unchecked = judge_gateway_api(GATEWAYS, ROUTES, live('gateway_api_accepted.json'))
    assert (problems, unchecked) == ([], [])
    assert objects == {
        'Gateway vc-gw/public': {'status': 'ok', 'detail': 'Accepted, Programmed True for generation 1'},
        'HTTPRoute vc-shop-routes/shop': {'status': 'ok',
                                          'detail': 'Accepted, ResolvedRefs for every parent True for generation 1'},
    }


def test_backend_not_found_names_route_parent_and_reason():
    objects, problems, _unchecked = judge_gateway_api(GATEWAYS, ROUTES, live('gateway_api_backend_not_found.json'))
    assert problems == ['cluster gateway api: HTTPRoute vc-shop-routes/shop parent public: ResolvedRefs is False '
                        '(BackendNotFound: Service "api" not found)']
    assert objects['HTTPRoute vc-shop-routes/shop']['status'] == 'problem'
    assert objects['Gateway vc-gw/public']['status'] == 'ok'


def test_no_controller_is_cannot_check_unless_one_is_expected():
    resources = live('gateway_api_no_controller.json')
    objects, problems, unchecked = judge_gateway_api(GATEWAYS, ROUTES, resources, expect_controller=False)
    assert problems == []
    assert unchecked[0] == (
        'cluster gateway api: Gateway vc-gw/public: no status from a Gateway controller yet (Accepted Unknown '
        '(Pending: Waiting for controller), Programmed Unknown (Pending: Waiting for controller)); no controller '
        'expected (validate_expect_gateway_controller: false)')
    assert {o['status'] for o in objects.values()} == {'cannot_check'}

    objects, problems, unchecked = judge_gateway_api(GATEWAYS, ROUTES, resources, expect_controller=True)
    assert unchecked == []
    assert problems[1] == (
        'cluster gateway api: HTTPRoute vc-shop-routes/shop: no status from a Gateway controller yet (no '
        'status.parents entry from io.cilium/gateway-controller): is io.cilium/gateway-controller running (Cilium '
        'operator with gatewayAPI.enabled) and the class right?')


def test_declared_but_absent_and_stale_status_are_problems():
    resources = live('gateway_api_accepted.json')
    resources[0]['metadata']['generation'] = 2
    other = dict(ROUTES[0], name='blog')
    _objects, problems, _unchecked = judge_gateway_api(GATEWAYS, ROUTES + [other], resources)
    assert problems == [
        'cluster gateway api: Gateway vc-gw/public: Accepted is for generation 1, the object is at 2 (status is stale)',
        'cluster gateway api: Gateway vc-gw/public: Programmed is for generation 1, the object is at 2 '
        '(status is stale)',
        'cluster gateway api: HTTPRoute vc-shop-routes/blog: not found on the server',
    ]


def test_a_declared_parent_without_status_is_a_problem():
    second = copy.deepcopy(ROUTES)
    second[0]['parent_refs'].append({'name': 'internal', 'namespace': 'vc-gw'})
    _objects, problems, _unchecked = judge_gateway_api(GATEWAYS, second, live('gateway_api_accepted.json'))
    assert problems == ['cluster gateway api: HTTPRoute vc-shop-routes/shop parent internal: no status from '
                        'io.cilium/gateway-controller for this parent']


def test_another_controllers_status_does_not_count():
    resources = live('gateway_api_accepted.json')
    resources[1]['status']['parents'][0]['controllerName'] = 'example.com/other'
    _objects, problems, _unchecked = judge_gateway_api(GATEWAYS, ROUTES, resources)
    assert problems == ['cluster gateway api: HTTPRoute vc-shop-routes/shop: no status from a Gateway controller '
                        'yet (no status.parents entry from io.cilium/gateway-controller): is '
                        'io.cilium/gateway-controller running (Cilium operator with gatewayAPI.enabled) and the '
                        'class right?']


def test_judge_cluster_from_the_roles_raw_reads():
    pods = [pod('cilium-a', 'n1'), pod('cilium-p', 'n2', phase='Pending', ready=None)]
    raw = {
        'problems': ['cluster kube-proxy: the DaemonSet kube-system/kube-proxy still exists'],
        'cannot_check': [],
        'cilium_agents': {'expect_lb_mode': 'dsr', 'tunnel': 'disabled', 'pods': pods, 'read_error': '',
                          # As registered by a loop over the pods: skipped where the pod was not ready.
                          'exec': [dict(ran(fixture('cilium', 'status_dsr_native.json')), item=pods[0]),
                                   {'skipped': True, 'item': pods[1]}]},
        'gateway_api': {'gateways': GATEWAYS, 'routes': ROUTES, 'expect_controller': True,
                        'controller_name': 'io.cilium/gateway-controller',
                        'resources': live('gateway_api_accepted.json'), 'unserved': [], 'read_errors': []},
    }
    judged = judge_cluster(raw)
    assert judged['problems'] == [
        'cluster kube-proxy: the DaemonSet kube-system/kube-proxy still exists',
        'cluster cilium agent kube-system/cilium-p on node n2: not ready: phase Pending, no Ready condition']
    assert judged['cannot_check'] == []
    assert judged['cilium_agents']['n1']['status'] == 'ok'
    assert {o['status'] for o in judged['gateway_api'].values()} == {'ok'}


def test_judge_cluster_reads_that_failed():
    judged = judge_cluster({'cilium_agents': {'read_error': 'Forbidden'},
                            'gateway_api': {'gateways': GATEWAYS, 'unserved': ['Gateway']}})
    assert judged['cannot_check'] == ['cluster cilium agent pods: cannot be read: Forbidden']
    assert judged['problems'] == ['cluster gateway api: the server does not serve gateway.networking.k8s.io/v1 Gateway: '
                                  'are the Gateway API CRDs installed (roles/gateway_api)?']
    assert judge_cluster({'gateway_api': {'gateways': GATEWAYS, 'read_errors': ['timeout']}})['cannot_check'] == [
        'cluster gateway api: cannot be read: timeout']


def test_judge_cluster_without_cluster_reads():
    assert judge_cluster(None) == {'problems': [], 'cannot_check': []}
    assert judge_cluster({'problems': [], 'cannot_check': [], 'cilium_agents': {}, 'gateway_api': {}}) == {
        'problems': [], 'cannot_check': []}


def test_dsr_dispatch_reaches_the_agents_checks():
    raw = {'cilium_agents': {'expect_lb_mode': 'dsr', 'tunnel': 'disabled', 'expect_dsr_dispatch': 'geneve',
                             'pods': [pod('cilium-a', 'n1')],
                             'exec': [dict(ran(fixture('cilium', 'status_dsr_native.json')), item=pod('cilium-a', 'n1'))]}}
    problems = judge_cluster(raw)['problems']
    assert len(problems) == 1 and problems[0].startswith(
        'cluster cilium agent kube-system/cilium-a on node n1: lb_mode: mode DSR, DSR dispatch IP Option/Extension')
    assert 'expected DSR dispatch Geneve' in problems[0]


def test_masquerade_reaches_the_agents_checks():
    raw = {'cilium_agents': {'expect_lb_mode': 'snat', 'tunnel': 'vxlan', 'expect_dsr_dispatch': 'opt',
                             'expect_masquerade': 'bpf', 'pods': [pod('cilium-a', 'n1')],
                             'exec': [dict(ran(fixture('cilium', 'status_snat_vxlan.json')), item=pod('cilium-a', 'n1'))]}}
    assert judge_cluster(raw)['problems'] == [
        'cluster cilium agent kube-system/cilium-a on node n1: masquerading: mode iptables, IPv4 enabled, IPv6 '
        'disabled; expected BPF (expect_masquerade: bpf; Helm bpf.masquerade: true)']
    raw['cilium_agents']['expect_masquerade'] = 'iptables'
    assert judge_cluster(raw)['problems'] == []


def test_the_roles_failed_reads_are_listed_with_the_servers_words():
    msg = fixture('cluster', 'k8s_info_unauthorized.txt')
    judged = judge_cluster({'read_failures': [
        {'item': {'kind': 'ConfigMap', 'namespace': 'kube-system', 'name': 'cilium-config'}, 'msg': msg},
        {'item': {'kind': 'NetworkPolicy'}, 'msg': 'Failed to load kubeconfig'}]})
    assert judged == {'problems': [], 'cannot_check': [
        'cluster ConfigMap kube-system/cilium-config: cannot be read: the API server answered 401 Unauthorized: '
        'Unauthorized',
        'cluster NetworkPolicy: cannot be read: Failed to load kubeconfig']}
