"""roles/kubeadm's rendered configuration judged by the REAL kubeadm (built
at the pinned version by scripts/k8s-binaries.sh): it validates, and the
init plan (dry run) installs CoreDNS but no kube-proxy; each joining node's
JoinConfiguration validates too and carries its node IP."""
import hashlib
import json

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from apiserver import ensure_binaries
from conftest import ROOT, run


@pytest.fixture(scope="module")
def kubeadm():
    return ensure_binaries()["PJ_K8S_BIN"] + "/kubeadm"


def render(tmp_path, **extra):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("kube_control_plane:\n  hosts:\n    cp1:\n      ansible_host: 10.0.0.10\n")
    out = tmp_path / "kubeadm-config.yaml"
    argv = ["ansible-playbook", "-i", str(inventory), "tests/integration/files/render_kubeadm_config.yml",
            "-e", "kubeadm_config_out=%s" % out]
    for key, value in extra.items():
        argv += ["-e", "%s=%s" % (key, value)]
    return run(argv), out


def test_rendered_config_validates(kubeadm, tmp_path):
    proc, config = render(tmp_path)
    assert proc.returncode == 0
    check = run([kubeadm, "config", "validate", "--config", str(config)])
    assert check.returncode == 0, check.stderr


def test_init_plan_has_no_kube_proxy(kubeadm, tmp_path):
    proc, config = render(tmp_path, kubeadm_control_plane_endpoint="api.lab.invalid:6443")
    assert proc.returncode == 0
    plan = run([kubeadm, "init", "--config", str(config), "--dry-run", "--ignore-preflight-errors=all"], timeout=300)
    assert plan.returncode == 0, plan.stderr
    assert "Applied essential addon: CoreDNS" in plan.stdout
    assert "kube-proxy" not in plan.stdout + plan.stderr
    assert "kubeadm join api.lab.invalid:6443" in plan.stdout
    # Control: the same plan with the phase list replaced on the command line
    # does install kube-proxy, so the assertion above can fail.
    control = run([kubeadm, "init", "--config", str(config), "--dry-run", "--skip-phases=preflight"], timeout=300)
    assert control.returncode == 0 and "k8s-app: kube-proxy" in control.stdout


def test_overlapping_subnets_are_refused_before_rendering(tmp_path):
    proc, config = render(tmp_path, kubeadm_pod_subnet="10.96.0.0/16")
    assert proc.returncode != 0
    assert "kubeadm_pod_subnet and kubeadm_service_subnet overlap: 10.96.0.0/16 and 10.96.0.0/12" in proc.stdout
    assert not config.exists()


JOIN_PLAYBOOK = """---
- name: Render each joining node's JoinConfiguration as roles/kubeadm/tasks/join.yml does
  hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    # Never runs; brings the role's defaults (below the inventory, as in a
    # real run) and vars into the play.
    - name: Bring in kubeadm's defaults and vars
      ansible.builtin.import_role:
        name: packetjungle.datapath.kubeadm
      tags: [never]

    - name: What init.yml registers on the first control-plane node
      ansible.builtin.set_fact:
        __kubeadm_join_command: {stdout: "{{ join_printed }}"}
        __kubeadm_certificate_key: {stdout_lines: "{{ join_upload_certs_lines }}"}
      when: __kubeadm_is_first

    - name: Render the role's join template
      ansible.builtin.template:
        src: %(root)s/roles/kubeadm/templates/kubeadm-join.yaml.j2
        dest: "{{ join_out }}/{{ inventory_hostname }}.yaml"
        mode: "0600"
      when: not __kubeadm_is_first
"""


@pytest.fixture(scope="module")
def credentials(kubeadm, tmp_path_factory):
    """A bootstrap token and a certificate key as the real kubeadm makes
    them, and the discovery hash of a CA it generated (sha256 of the CA's
    SubjectPublicKeyInfo, as `kubeadm token create --print-join-command`)."""
    pki = tmp_path_factory.mktemp("pki")
    token = run([kubeadm, "token", "generate"])
    key = run([kubeadm, "certs", "certificate-key"])
    ca = run([kubeadm, "init", "phase", "certs", "ca", "--cert-dir", str(pki)])
    assert token.returncode == key.returncode == ca.returncode == 0
    cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"token": token.stdout.strip(), "certificate_key": key.stdout.strip(),
            "ca_cert_hash": "sha256:" + hashlib.sha256(spki).hexdigest()}


def render_join(tmp_path, creds):
    """JoinConfigurations for cp2 (a further control-plane node) and w1 (a
    worker with a public ansible_host and a private kubeadm_node_ip), from
    what cp1 printed; returns the run and {host: parsed JoinConfiguration}."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({
        "kube_control_plane": {"hosts": {"cp1": {"ansible_host": "10.0.0.10"}, "cp2": {"ansible_host": "10.0.0.11"}}},
        "kube_workers": {"hosts": {"w1": {"ansible_host": "203.0.113.21", "kubeadm_node_ip": "10.0.0.21"}}},
    }))
    playbook = tmp_path / "render_join.yml"
    playbook.write_text(JOIN_PLAYBOOK % {"root": ROOT})
    out = tmp_path / "join"
    out.mkdir()
    extra = {
        "join_out": str(out),
        # The line `kubeadm token create --print-join-command` prints, and
        # what `kubeadm init phase upload-certs --upload-certs` prints.
        "join_printed": "kubeadm join 10.0.0.10:6443 --token %s --discovery-token-ca-cert-hash %s "
                        % (creds["token"], creds["ca_cert_hash"]),
        "join_upload_certs_lines": ["[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the "
                                    "\"kube-system\" Namespace", "[upload-certs] Using certificate key:",
                                    creds["certificate_key"]],
    }
    proc = run(["ansible-playbook", "-i", str(inventory), str(playbook), "-e", json.dumps(extra)])
    return proc, {host: out / ("%s.yaml" % host) for host in ("cp2", "w1")}


def test_rendered_join_configurations_validate(kubeadm, credentials, tmp_path):
    proc, paths = render_join(tmp_path, credentials)
    assert proc.returncode == 0
    for host, path in paths.items():
        assert path.stat().st_mode & 0o777 == 0o600
        check = run([kubeadm, "config", "validate", "--config", str(path)])
        assert check.returncode == 0, "%s: %s" % (host, check.stderr)

    cp2, w1 = (yaml.safe_load(paths[host].read_text()) for host in ("cp2", "w1"))
    for config in (cp2, w1):
        assert config["kind"] == "JoinConfiguration" and config["apiVersion"] == "kubeadm.k8s.io/v1beta4"
        assert config["discovery"]["bootstrapToken"] == {
            "apiServerEndpoint": "10.0.0.10:6443", "token": credentials["token"],
            "caCertHashes": [credentials["ca_cert_hash"]]}
        assert config["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"
    assert cp2["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "10.0.0.11"}]
    assert cp2["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "10.0.0.11", "bindPort": 6443},
                                   "certificateKey": credentials["certificate_key"]}
    # The worker registers its private address, not its ansible_host, and
    # gets no control-plane section (nor the certificate key).
    assert w1["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "10.0.0.21"}]
    assert "controlPlane" not in w1
    assert credentials["certificate_key"] not in paths["w1"].read_text()


def test_join_validation_can_fail(kubeadm, credentials, tmp_path):
    """Control: kubeadm refuses the rendered worker configuration without its
    CA pin, so the validation above is not a rubber stamp."""
    proc, paths = render_join(tmp_path, credentials)
    assert proc.returncode == 0
    w1 = yaml.safe_load(paths["w1"].read_text())
    del w1["discovery"]["bootstrapToken"]["caCertHashes"]
    unpinned = tmp_path / "unpinned.yaml"
    unpinned.write_text(yaml.safe_dump(w1))
    check = run([kubeadm, "config", "validate", "--config", str(unpinned)])
    assert check.returncode != 0 and "caCertHashes" in check.stderr
