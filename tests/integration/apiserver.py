"""A real etcd + kube-apiserver for the integration tests, started the way
controller-runtime's envtest does it: loopback only, random free ports, a
throw-away data directory, generated certificates, a static admin token and
RBAC. Binaries come from scripts/k8s-binaries.sh (built with Go at the versions
in k8s/versions.env and cached outside the repository).

conftest.py turns running_api_server() into the session fixture `api_server`."""
import base64
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(ROOT, "scripts", "k8s-binaries.sh")
# A cold build of all binaries takes minutes on 2 cores; the cached path seconds.
BUILD_TIMEOUT = 3600
READY_TIMEOUT = 120
STOP_TIMEOUT = 15
SERVICE_CIDR = "10.0.0.0/24"
# Requests to the API server must never leave the machine through a proxy.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def read_versions():
    """k8s/versions.env as a dict (KEY=VALUE lines, # comments)."""
    versions = {}
    with open(os.path.join(ROOT, "k8s", "versions.env"), encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#"):
                key, value = line.split("=", 1)
                versions[key] = value
    return versions


def ensure_binaries():
    """Build (or find cached) binaries and CRDs; return the script's KEY=VALUE output."""
    proc = subprocess.run([BUILD_SCRIPT], cwd=ROOT, text=True, capture_output=True,
                          timeout=BUILD_TIMEOUT, check=False)
    print(proc.stderr[-5000:])
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc %d): %s" % (BUILD_SCRIPT, proc.returncode, proc.stderr[-3000:]))
    paths = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return paths


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (same race as envtest)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write(path, data, mode=0o600):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as handle:
        handle.write(data)


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_certificates(cert_dir):
    """Self-signed CA, a serving certificate for 127.0.0.1 signed by it, and the
    service-account signing key. Returns the paths by name."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "packetjungle-test-ca")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False,
                                            encipher_only=False, decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    srv_key = ec.generate_private_key(ec.SECP256R1())
    # The first service IP is the in-cluster address of the `kubernetes` Service.
    service_ip = next(ipaddress.ip_network(SERVICE_CIDR).hosts())
    sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(service_ip),
            x509.DNSName("localhost"), x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc")]
    srv_cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
                .issuer_name(ca_name).public_key(srv_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
    # Service-account tokens are signed with RS256 by default: an RSA key.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    paths = {name: os.path.join(cert_dir, name) for name in
             ("ca.crt", "apiserver.crt", "apiserver.key", "sa.key", "sa.pub")}
    _write(paths["ca.crt"], ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths["apiserver.crt"], srv_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths["apiserver.key"], _pem_key(srv_key))
    _write(paths["sa.key"], _pem_key(sa_key))
    _write(paths["sa.pub"], sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    return paths


def _start(argv, log_path):
    """Start a process in its own process group (so stop() reaches its children)."""
    log = open(log_path, "wb")  # pylint: disable=consider-using-with
    try:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        log.close()


def _stop(proc):
    """SIGTERM the process group, SIGKILL it after STOP_TIMEOUT seconds."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path, size=4000):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _wait_http(url, proc, log_path, timeout, context=None, token=None):
    """Poll url until it answers 200 'ok'; fail early if proc died."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s before it was ready:\n%s"
                               % (proc.args[0], proc.returncode, _tail(log_path)))
        request = urllib.request.Request(url)
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            if context is not None:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                     urllib.request.HTTPSHandler(context=context))
            else:
                opener = _NO_PROXY_OPENER
            with opener.open(request, timeout=5) as response:
                body = response.read().decode()
                if response.status == 200:
                    return body
                last = "%s %s" % (response.status, body)
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError("%s not ready after %d s (last answer: %s):\n%s" % (url, timeout, last, _tail(log_path)))


class APIServer:
    """A running etcd + kube-apiserver pair. Attributes: url, token, kubeconfig,
    ca_file, bin_dir, crd_dir, workdir, versions."""

    def __init__(self, bin_dir, crd_dir=None, versions=None):
        self.bin_dir = bin_dir
        self.crd_dir = crd_dir
        self.versions = versions or {}
        self.workdir = tempfile.mkdtemp(prefix="pj-apiserver-")
        self.token = secrets.token_hex(24)
        self.url = None
        self.kubeconfig = os.path.join(self.workdir, "admin.kubeconfig")
        self.ca_file = None
        self.etcd = None
        self.apiserver = None

    def bin(self, name):
        """Path of one of the built binaries (etcd, kube-apiserver, kubeadm, kubectl)."""
        return os.path.join(self.bin_dir, name)

    def start(self, attempts=3):
        """Start etcd, then kube-apiserver; return when /readyz says ok. A port
        taken between free_port() and the bind costs one more attempt."""
        for attempt in range(1, attempts + 1):
            os.makedirs(self.workdir, exist_ok=True)
            try:
                self._start()
                return self
            except BaseException as exc:
                self.stop()
                if attempt == attempts or "address already in use" not in str(exc):
                    raise
        return self

    def _start(self):
        certs = make_certificates(self.workdir)
        self.ca_file = certs["ca.crt"]
        client_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url = "http://127.0.0.1:%d" % client_port
        peer_url = "http://127.0.0.1:%d" % peer_port
        etcd_log = os.path.join(self.workdir, "etcd.log")
        self.etcd = _start([
            self.bin("etcd"), "--name=default", "--data-dir=" + os.path.join(self.workdir, "etcd"),
            "--listen-client-urls=" + etcd_url, "--advertise-client-urls=" + etcd_url,
            "--listen-peer-urls=" + peer_url, "--initial-advertise-peer-urls=" + peer_url,
            "--initial-cluster=default=" + peer_url, "--initial-cluster-state=new",
            # A test database: durability across power loss does not matter, speed does.
            "--unsafe-no-fsync", "--log-level=warn",
        ], etcd_log)
        _wait_http(etcd_url + "/health", self.etcd, etcd_log, 60)

        tokens = os.path.join(self.workdir, "tokens.csv")
        _write(tokens, ('%s,admin,admin-uid,"system:masters"\n' % self.token).encode())
        self.url = "https://127.0.0.1:%d" % api_port
        api_log = os.path.join(self.workdir, "kube-apiserver.log")
        self.apiserver = _start([
            self.bin("kube-apiserver"),
            "--etcd-servers=" + etcd_url,
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=%d" % api_port,
            "--cert-dir=" + os.path.join(self.workdir, "certs"),
            "--tls-cert-file=" + certs["apiserver.crt"], "--tls-private-key-file=" + certs["apiserver.key"],
            "--client-ca-file=" + certs["ca.crt"],
            "--token-auth-file=" + tokens,
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=" + SERVICE_CIDR,
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-account-key-file=" + certs["sa.pub"],
            "--service-account-signing-key-file=" + certs["sa.key"],
            "--allow-privileged=true", "--profiling=false", "--v=1",
        ], api_log)
        context = ssl.create_default_context(cafile=self.ca_file)
        _wait_http(self.url + "/readyz", self.apiserver, api_log, READY_TIMEOUT, context, self.token)
        self._write_kubeconfig()

    def _write_kubeconfig(self):
        with open(self.ca_file, "rb") as handle:
            ca_data = base64.b64encode(handle.read()).decode()
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "pj-test",
            "clusters": [{"name": "pj-test",
                          "cluster": {"server": self.url, "certificate-authority-data": ca_data}}],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "pj-test",
                          "context": {"cluster": "pj-test", "user": "admin", "namespace": "default"}}],
        }
        # JSON is YAML: every kubeconfig reader accepts it.
        _write(self.kubeconfig, json.dumps(config, indent=2).encode())

    def run(self, *argv, input_text=None, timeout=120):
        """Run a command with KUBECONFIG pointing at this server; returns the CompletedProcess."""
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, NO_PROXY="127.0.0.1,localhost",
                   no_proxy="127.0.0.1,localhost")
        return subprocess.run(list(argv), input=input_text, text=True, capture_output=True, env=env,
                              timeout=timeout, check=False)

    def kubectl(self, *args, input_text=None, timeout=120):
        """Run the built kubectl against this server."""
        return self.run(self.bin("kubectl"), *args, input_text=input_text, timeout=timeout)

    def stop(self):
        """Stop kube-apiserver, then etcd; remove the working directory."""
        _stop(self.apiserver)
        _stop(self.etcd)
        shutil.rmtree(self.workdir, ignore_errors=True)


def running_api_server():
    """A real kube-apiserver (with etcd) on 127.0.0.1 until the generator is closed."""
    paths = ensure_binaries()
    server = APIServer(paths["PJ_K8S_BIN"], paths.get("PJ_GATEWAY_API_CRDS"), read_versions()).start()
    try:
        yield server
    finally:
        server.stop()
