"""The cilium role's health gate (roles/cilium/tasks/wait.yml) against a REAL
kube-apiserver: a cilium DaemonSet and a cilium-operator Deployment whose
status the test writes through the status subresource, as the DaemonSet and
Deployment controllers would. Ready passes; not ready fails within the short
cilium_wait_timeout with a message naming what is not ready and why."""
import json
import os
import time

import pytest

from conftest import NO_NODES, run

DAEMONSET = {"apiVersion": "apps/v1", "kind": "DaemonSet",
             "metadata": {"name": "cilium", "namespace": "kube-system", "labels": {"k8s-app": "cilium"}},
             "spec": {"selector": {"matchLabels": {"k8s-app": "cilium"}},
                      "template": {"metadata": {"labels": {"k8s-app": "cilium"}},
                                   "spec": {"containers": [{"name": "cilium-agent",
                                                            "image": "quay.io/cilium/cilium:v1.19.4"}]}}}}
OPERATOR = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cilium-operator", "namespace": "kube-system"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"io.cilium/app": "operator"}},
                     "template": {"metadata": {"labels": {"io.cilium/app": "operator"}},
                                  "spec": {"containers": [{"name": "cilium-operator",
                                                           "image": "quay.io/cilium/operator-generic:v1.19.4"}]}}}}
TIMEOUT = 5


def ok(server, *args, input_text=None):
    proc = server.kubectl(*args, input_text=input_text)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def agents(server, desired, ready):
    ok(server, "-n", "kube-system", "patch", "daemonset", "cilium", "--subresource=status", "--type=merge", "-p",
       json.dumps({"status": {"desiredNumberScheduled": desired, "currentNumberScheduled": desired,
                              "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": desired,
                              "numberMisscheduled": 0, "observedGeneration": 1}}))


def operator(server, available, ready_replicas, reason, message):
    ok(server, "-n", "kube-system", "patch", "deployment", "cilium-operator", "--subresource=status", "--type=merge",
       "-p", json.dumps({"status": {"replicas": 2, "readyReplicas": ready_replicas,
                                    "availableReplicas": ready_replicas, "observedGeneration": 1,
                                    "conditions": [{"type": "Available", "status": available, "reason": reason,
                                                    "message": message}]}}))


@pytest.fixture
def cilium(api_server):
    for obj in (DAEMONSET, OPERATOR):
        ok(api_server, "apply", "-f", "-", input_text=json.dumps(obj))
    # No controller-manager creates the namespace's default ServiceAccount here.
    api_server.kubectl("-n", "kube-system", "create", "serviceaccount", "default")
    yield api_server
    api_server.kubectl("-n", "kube-system", "delete", "pod", "--grace-period=0", "--force", "-l", "k8s-app=cilium")


def gate(server, kubeconfig=None):
    """Run the gate; (rc, seconds, the failed task's message or None)."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost")
    extra = {"cilium_kubeconfig": kubeconfig or server.kubeconfig, "cilium_wait_timeout": TIMEOUT}
    start = time.monotonic()
    proc = run(["ansible-playbook", "-i", NO_NODES, "tests/integration/files/cilium_wait.yml", "-e", json.dumps(extra)], env=env)
    elapsed = time.monotonic() - start
    failed = [task["hosts"]["localhost"] for play in json.loads(proc.stdout)["plays"] for task in play["tasks"]
              if task["hosts"].get("localhost", {}).get("failed")
              and not task["hosts"]["localhost"].get("ignore_errors")]
    return proc.returncode, elapsed, failed[-1]["msg"] if failed else None


def test_ready_agents_and_available_operator_pass(cilium):
    agents(cilium, desired=3, ready=3)
    operator(cilium, "True", 2, "MinimumReplicasAvailable", "Deployment has minimum availability.")
    rc, _elapsed, message = gate(cilium)
    assert (rc, message) == (0, None)


def test_agents_not_ready_fail_naming_daemonset_and_pods(cilium):
    agents(cilium, desired=2, ready=1)
    operator(cilium, "True", 2, "MinimumReplicasAvailable", "Deployment has minimum availability.")
    ok(cilium, "create", "-f", "-", input_text=json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "wait-cilium-b", "namespace": "kube-system", "labels": {"k8s-app": "cilium"}},
        "spec": {"nodeName": "wait-node-2", "automountServiceAccountToken": False,
                 "containers": [{"name": "cilium-agent", "image": "quay.io/cilium/cilium:v1.19.4"}]}}))
    rc, elapsed, message = gate(cilium)
    assert rc != 0
    assert message == ("cilium: agents not ready after cilium_wait_timeout 5 s: DaemonSet kube-system/cilium has 1 "
                       "of 2 agents ready (1 available, 2 up to date); not ready: pod wait-cilium-b on node "
                       "wait-node-2 (phase Pending, Ready not reported)")
    # It waited (one retry, 5 s apart) before it gave up.
    assert elapsed >= TIMEOUT


def test_operator_not_available_fails_with_its_condition(cilium):
    agents(cilium, desired=3, ready=3)
    operator(cilium, "False", 0, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    rc, _elapsed, message = gate(cilium)
    assert rc != 0
    assert message == ("cilium: operator not available after cilium_wait_timeout 5 s: Deployment "
                       "kube-system/cilium-operator has 0 of 2 replicas ready, Available False "
                       "(MinimumReplicasUnavailable: Deployment does not have minimum availability.)")


def test_missing_daemonset_fails_saying_so(cilium):
    ok(cilium, "-n", "kube-system", "delete", "daemonset", "cilium")
    rc, _elapsed, message = gate(cilium)
    assert rc != 0
    assert message == ("cilium: agents not ready after cilium_wait_timeout 5 s: DaemonSet kube-system/cilium does "
                       "not exist (did the Helm release install?)")


def test_unreadable_daemonset_fails_with_the_servers_answer(cilium, tmp_path):
    with open(cilium.kubeconfig) as handle:
        config = json.load(handle)
    config["users"][0]["user"]["token"] = "not-the-token"
    refused = tmp_path / "refused.kubeconfig"
    refused.write_text(json.dumps(config))
    rc, _elapsed, message = gate(cilium, str(refused))
    assert rc != 0
    assert message.startswith("cilium: agents not ready after cilium_wait_timeout 5 s: DaemonSet kube-system/cilium "
                              "could not be read: "), message
    assert "401" in message or "Unauthorized" in message, message
