"""The local Apache Kafka (KRaft) launcher: assemble from Maven artifacts, start on loopback, wait, stop."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import structlog

from agents.core.settings import LOCAL_ADMIN, REPO_ROOT, Settings
from schemas.errors import BrokerUnavailableError, ConfigurationError

log = structlog.get_logger(__name__)

DEPLOY_DIR = REPO_ROOT / "deploy" / "local"
POM = DEPLOY_DIR / "pom.xml"
READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class BrokerState:
    """What `sluice broker up` leaves behind in var/kafka/state.json."""

    pid: int
    port: int
    controller_port: int
    secure: bool = False  # SASL_SSL listener, SCRAM principals and ACLs (`sluice up --secure`)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as dead.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


class LocalBroker:
    """One single-node Kafka under var/kafka, shared by `make demo`, `sluice up` and the test session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.var_dir / "kafka"
        self.libs = settings.kafka_dist_dir / "libs"
        # A secured broker is a cluster of its own: its metadata holds the SCRAM credentials and ACLs, and plain
        # mode's data (no credentials at all) could never be opened securely. Switching modes switches clusters.
        self.data = self.home / ("data-secure" if settings.secure else "data")
        self.logs = self.home / "logs"
        self.state_file = self.home / "state.json"

    # --- artifacts -------------------------------------------------------------------------------
    def _pom_digest(self) -> str:
        return hashlib.sha256(POM.read_bytes()).hexdigest()[:16]

    def artifacts_ready(self) -> bool:
        stamp = self.libs / ".complete"
        return stamp.exists() and stamp.read_text().strip() == self._pom_digest()

    def ensure_artifacts(self) -> None:
        """Resolve Kafka and its runtime jars from Maven once; later calls are free."""
        if self.artifacts_ready():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ConfigurationError("Maven (mvn) is needed to assemble the local Kafka broker: install maven")
        if shutil.which("java") is None:
            raise ConfigurationError("Java 17+ is needed to run the local Kafka broker: install openjdk-17-jre")
        staging = self.libs.with_name("libs.staging")
        shutil.rmtree(staging, ignore_errors=True)
        print("assembling Apache Kafka from Maven artifacts (once) ...", flush=True)
        command = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerUnavailableError(
                f"could not resolve Kafka artifacts ({' '.join(command)}):\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        shutil.rmtree(self.libs, ignore_errors=True)
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(self.libs)
        (self.libs / ".complete").write_text(self._pom_digest())

    # --- state -------------------------------------------------------------------------------------
    def state(self) -> BrokerState | None:
        """The running broker, or None when it is not running (stale state files are ignored)."""
        if not self.state_file.exists():
            return None
        try:
            raw = json.loads(self.state_file.read_text())
            state = BrokerState(
                pid=int(raw["pid"]),
                port=int(raw["port"]),
                controller_port=int(raw["controller_port"]),
                secure=bool(raw.get("secure", False)),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if pid_alive(state.pid) and port_open(state.port):
            return state
        return None

    def _last_ports(self) -> tuple[int, int] | None:
        with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
            raw = json.loads(self.state_file.read_text())
            return int(raw["port"]), int(raw["controller_port"])
        return None

    def _choose_ports(self) -> tuple[int, int]:
        # Reuse the previous ports when free so that clients and stored configs keep working across restarts.
        last = self._last_ports()
        if self.settings.broker_port:
            port = self.settings.broker_port
            return port, (last[1] if last and last[0] == port and not port_open(last[1]) else free_port())
        if last and not port_open(last[0]) and not port_open(last[1]):
            return last
        return free_port(), free_port()

    # --- lifecycle ---------------------------------------------------------------------------------
    def up(self, *, timeout_s: float = READY_TIMEOUT_S) -> BrokerState:
        """Start the broker unless it runs already; return once it answers metadata requests."""
        running = self.state()
        if running is not None:
            check_mode(running, self.settings)
            return running
        self.ensure_artifacts()
        port, controller_port = self._choose_ports()
        self.data.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        template = (DEPLOY_DIR / "server.properties.template").read_text()
        listeners = self._listeners(port, controller_port)
        text = template.format(port=port, controller_port=controller_port, data_dir=self.data, listeners=listeners)
        # In secure mode the file holds the broker's own passwords: readable by this user only.
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(text)
        classpath = f"{self.libs}/*"
        if not (self.data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            # `=` keeps an id that starts with "-" from being read as an option.
            format_command = ["java", "-cp", classpath, "kafka.tools.StorageTool", "format"]
            if self.settings.secure:
                # The super user's SCRAM credential is written with the metadata, so that something can log in to
                # create every other principal. (Its password is briefly on this process's command line.)
                admin_password = self.settings.principal_password(LOCAL_ADMIN).get_secret_value()
                format_command += ["--add-scram", f"SCRAM-SHA-512=[name={LOCAL_ADMIN},password={admin_password}]"]
            formatted = subprocess.run(
                [*format_command, f"--cluster-id={cluster_id}", "-c", str(config)],
                check=False,
                capture_output=True,
                text=True,
            )
            if formatted.returncode != 0:
                raise BrokerUnavailableError(
                    f"formatting the KRaft storage failed: {formatted.stdout[-1500:]}{formatted.stderr[-1500:]}"
                )
        command = [
            "java",
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.logs}",
            f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'log4j2.properties'}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        with (self.logs / "stdout.log").open("ab") as out:
            # A session of its own: the broker outlives `sluice broker up` and ignores the caller's Ctrl-C.
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        state = BrokerState(pid=process.pid, port=port, controller_port=controller_port, secure=self.settings.secure)
        self.state_file.write_text(
            json.dumps({"pid": state.pid, "port": port, "controller_port": controller_port, "secure": state.secure})
        )
        self._wait_ready(state, process, timeout_s)
        log.info("broker_started", bootstrap_servers=state.bootstrap_servers, pid=state.pid, secure=state.secure)
        return state

    def _listeners(self, port: int, controller_port: int) -> str:
        """The listener block of server.properties: plain, or SASL_SSL with the authorizer (secure mode)."""
        if not self.settings.secure:
            return (
                (DEPLOY_DIR / "listeners-plain.properties.template")
                .read_text()
                .format(port=port, controller_port=controller_port)
            )
        from agents.processes.access import CONTROLLER, ensure_password
        from agents.processes.tls import ensure_tls

        tls = ensure_tls(self.settings.tls_dir)
        admin_file = self.settings.kafka_credentials_dir / f"{LOCAL_ADMIN}.password"
        if not admin_file.exists() and (self.data / "meta.properties").exists():
            # The broker logs in to itself as admin with the credential stored at format time: a new password
            # would lock everyone out of this cluster.
            raise ConfigurationError(
                f"{admin_file} is missing but the secured broker's data in {self.data} was made with it: "
                f"restore the file, or remove {self.data} to start a new cluster"
            )
        ensure_password(self.settings, LOCAL_ADMIN)
        ensure_password(self.settings, CONTROLLER)  # only this config knows it: a new one is as good as the old
        return (
            (DEPLOY_DIR / "listeners-secure.properties.template")
            .read_text()
            .format(
                port=port,
                controller_port=controller_port,
                admin_user=LOCAL_ADMIN,
                admin_password=self.settings.principal_password(LOCAL_ADMIN).get_secret_value(),
                controller_user=CONTROLLER,
                controller_password=self.settings.principal_password(CONTROLLER).get_secret_value(),
                keystore=tls.broker_keystore,
                truststore=tls.ca_certificate,
            )
        )

    def _wait_ready(self, state: BrokerState, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BrokerUnavailableError(
                    f"the local Kafka broker exited with status {process.returncode}; "
                    f"last log lines:\n{self.log_tail()}"
                )
            if port_open(state.port):
                admin = AdminClient(
                    {
                        **self.settings.kafka_client_config(),
                        "bootstrap.servers": state.bootstrap_servers,
                        "log_level": 0,
                    }
                )
                with contextlib.suppress(Exception):
                    metadata = admin.list_topics(timeout=2)
                    if metadata.brokers:
                        return
            time.sleep(0.5)
        raise BrokerUnavailableError(
            f"the local Kafka broker did not become ready in {timeout_s:.0f}s; last log lines:\n{self.log_tail()}"
        )

    def down(self, *, timeout_s: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after timeout_s). True if one was running."""
        state = self.state()
        if state is None:
            return False
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and pid_alive(state.pid):
            time.sleep(0.2)
        if pid_alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)
        log.info("broker_stopped", pid=state.pid)
        return True

    def log_tail(self, lines: int = 30) -> str:
        for name in ("server.log", "stdout.log"):
            path = self.logs / name
            if path.exists() and path.stat().st_size:
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return "(no broker log yet)"


def check_mode(state: BrokerState, settings: Settings) -> None:
    """A client configured for one mode cannot talk to a broker running the other: say so plainly."""
    if state.secure != settings.secure:
        running, wanted = ("secure", "plain") if state.secure else ("plain", "secure")
        raise ConfigurationError(
            f"the local broker runs in {running} mode but {wanted} mode was asked for (SLUICE_SECURE, `--secure`): "
            f"run `sluice down` first to switch modes (each mode keeps its own data under {settings.var_dir}/kafka)"
        )


def with_local_broker_mode(settings: Settings) -> Settings:
    """Settings that follow the running local broker into secure mode, so that after `sluice up --secure` every
    other command connects securely (as admin, by default) without being told again."""
    if settings.kafka_bootstrap_servers or settings.secure:
        return settings
    state = LocalBroker(settings).state()
    return settings.model_copy(update={"secure": True}) if state is not None and state.secure else settings


def resolve_bootstrap_servers(settings: Settings) -> str:
    """The cluster Sluice talks to: the configured one, else the running local broker."""
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    state = LocalBroker(settings).state()
    if state is None:
        raise BrokerUnavailableError(
            "no Kafka cluster: run `sluice broker up` (or `sluice up`), or set KAFKA_BOOTSTRAP_SERVERS"
        )
    check_mode(state, settings)
    return state.bootstrap_servers
