"""A real Kubernetes control plane on loopback for tests, in the spirit of controller-runtime's envtest.

Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler from `KUBEBUILDER_ASSETS`
(the envtest convention: a directory holding the binaries; `etcd` may also come from PATH) on free
127.0.0.1 ports, with a private PKI generated for this run, token authentication and RBAC. The
API server is what every conformant cluster runs: admission (Pod Security included), RBAC, CRD
validation, server-side apply, garbage collection and namespace finalization are all real.

No kubelet and no container runtime run here; `kubelet_standin.KubeletStandIn` registers a Node and
marks Pods ready in their place.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
ASSETS_ENV = "KUBEBUILDER_ASSETS"
READY_TIMEOUT_SECONDS = 90.0


def find_assets() -> tuple[Path | None, str]:
    """(assets directory, reason) — the directory is None with the reason why it cannot be used."""
    configured = os.environ.get(ASSETS_ENV)
    if not configured:
        return None, f"{ASSETS_ENV} is not set (a directory with {', '.join(BINARIES)}; see .ci/run)"
    assets = Path(configured)
    missing = [name for name in BINARIES if not (assets / name).is_file()]
    if missing:
        return None, f"{ASSETS_ENV}={assets} lacks {', '.join(missing)}"
    if not (assets / "etcd").exists() and shutil.which("etcd") is None:
        return None, f"no etcd in {assets} or on PATH (Debian: apt-get install etcd-server)"
    return assets, ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def generate_pki(directory: Path) -> None:
    """A CA, the API server's serving certificate (127.0.0.1, localhost) and the service-account keys."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def pem_key(private: rsa.RSAPrivateKey) -> bytes:
        return private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "envtest-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = key()
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes.default.svc"),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = key()
    (directory / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(directory / "ca.key", pem_key(ca_key))
    (directory / "apiserver.crt").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(directory / "apiserver.key", pem_key(server_key))
    _write_private(directory / "sa.key", pem_key(sa_key))
    (directory / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler under `root`.

    `disable_webhooks` turns off the API server's webhook admission plugins: the admission webhooks of
    cert-manager and KServe point at Services with no running Pod behind them (no kubelet here), so a
    test that installs those parts cannot have them called.
    """

    root: Path
    assets: Path
    disable_webhooks: bool = False
    tokens: dict[str, str] = field(default_factory=dict)
    api_port: int = 0
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def kubectl(self) -> Path | None:
        found = self.assets / "kubectl"
        return found if found.is_file() else None

    def _binary(self, name: str) -> str:
        local = self.assets / name
        return str(local) if local.exists() else str(shutil.which(name))

    def _start(self, name: str, args: list[str]) -> None:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{name}.log").open("wb") as log:
            self._processes[name] = subprocess.Popen(
                [self._binary(name), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def write_kubeconfig(self, path: Path, user: str, token: str | None = None) -> Path:
        """A kubeconfig for `user` (one of the token-file users, or any token given)."""
        import yaml

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "envtest",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.root / "pki/ca.crt"),
                    },
                }
            ],
            "users": [{"name": user, "user": {"token": token or self.tokens[user]}}],
            "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": user}}],
            "current-context": "envtest",
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        path.chmod(0o600)
        return path

    def start(self) -> None:
        pki = self.root / "pki"
        generate_pki(pki)
        self.tokens = {
            user: secrets.token_hex(24)
            for user in ("admin", "system:kube-controller-manager", "system:kube-scheduler")
        }
        groups = {"admin": "system:masters"}
        (pki / "tokens.csv").write_text(
            "".join(f"{token},{user},{user},{groups.get(user, '')}\n" for user, token in self.tokens.items()),
            encoding="utf-8",
        )
        (pki / "tokens.csv").chmod(0o600)
        etcd_client, etcd_peer = free_port(), free_port()
        self._start(
            "etcd",
            [
                "--name=envtest",
                f"--data-dir={self.root / 'etcd-data'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=envtest=http://127.0.0.1:{etcd_peer}",
                "--listen-metrics-urls=http://127.0.0.1:0",
            ],
        )
        self.api_port = free_port()
        apiserver = [
            f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--cert-dir={self.root / 'certs'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--endpoint-reconciler-type=none",
        ]
        if self.disable_webhooks:
            apiserver.append(
                "--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook"
            )
        self._start("kube-apiserver", apiserver)
        self.write_kubeconfig(self.kubeconfig, "admin")
        self._wait_ready()
        for name, user in (
            ("kube-controller-manager", "system:kube-controller-manager"),
            ("kube-scheduler", "system:kube-scheduler"),
        ):
            config = self.write_kubeconfig(self.root / f"{name}.kubeconfig", user)
            common = [
                f"--kubeconfig={config}",
                f"--authentication-kubeconfig={config}",
                f"--authorization-kubeconfig={config}",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--leader-elect=false",
            ]
            extra = (
                [
                    "--use-service-account-credentials=true",
                    f"--service-account-private-key-file={pki / 'sa.key'}",
                    f"--root-ca-file={pki / 'ca.crt'}",
                    f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                    f"--cluster-signing-key-file={pki / 'ca.key'}",
                    "--controllers=*,-cloud-node-lifecycle-controller,-service-lb-controller,"
                    "-node-route-controller",
                ]
                if name == "kube-controller-manager"
                else []
            )
            self._start(name, common + extra)

    def _wait_ready(self) -> None:
        context = ssl.create_default_context(cafile=str(self.root / "pki/ca.crt"))
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.tokens['admin']}"}
        )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last = ""
        while time.monotonic() < deadline:
            for name, process in self._processes.items():
                if process.poll() is not None:
                    tail = (self.root / "logs" / f"{name}.log").read_text(errors="replace")[-1500:]
                    raise RuntimeError(f"{name} exited with {process.returncode}: {tail}")
            try:
                with urllib.request.urlopen(request, timeout=2, context=context) as response:
                    if response.read() == b"ok":
                        return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.25)
        raise RuntimeError(f"kube-apiserver not ready after {READY_TIMEOUT_SECONDS:.0f} s ({last})")

    def stop(self) -> None:
        """Stop every process by pid (its session), the API server's clients first."""
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            process = self._processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def api_client(self, token: str | None = None) -> object:
        """A `kubernetes.client.ApiClient` for the admin (or for `token`)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.server
        configuration.ssl_ca_cert = str(self.root / "pki/ca.crt")
        configuration.api_key = {"authorization": token or self.tokens["admin"]}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(configuration)
