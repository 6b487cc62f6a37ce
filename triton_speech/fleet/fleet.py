"""The fleet as a whole: what starts in which order, what restarts a part that exits, and the stop that leaves
nothing running.

Start: the object store (when the model repository or the media need it) and the repository uploaded to it;
PostgreSQL (unless DATABASE_URL names a database); the database migrated and the page's local key made once, before
any gateway starts (two gateways migrating one new database at once would collide); the Triton replicas, side by
side; the balancer; the gateways. Ready once the balancer sees every server up.

A part that exits by itself is started again, after a wait that doubles with each quick failure (as a Deployment
restarts a pod's container), and what it left running is killed first; not the object store, whose objects are gone
with it (that is logged). Stop (``stop()``, Ctrl-C or SIGTERM to the
command): the gateways, the balancer, the replicas (each launcher drains its Triton), the database, the object
store; then whatever still runs in the sessions of the processes started is killed, and named.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from triton_speech import defaults
from triton_speech.fleet import balancer as haproxy
from triton_speech.fleet.children import Child, FleetError, free_port
from triton_speech.fleet.gateways import Gateway, gateway
from triton_speech.fleet.objectstore import CREDENTIALS, ObjectStore
from triton_speech.fleet.postgres import PostgresServer
from triton_speech.fleet.replicas import TritonReplica, new_ports, triton_replica
from triton_speech.server.repository import built_models, is_remote, upload

log = logging.getLogger("triton_speech.fleet")
MODELS_BUCKET, MODELS_PATH = "models", "repository"
MEDIA_BUCKET, MEDIA_PREFIX = "media", "gateway"
DATABASE_NAME = "speech"
# Restarts: the first after RESTART_FIRST_S, doubling after each start that ran less than RESTART_RESET_S, at most
# RESTART_MAX_S apart
RESTART_FIRST_S, RESTART_MAX_S, RESTART_RESET_S = 1.0, 30.0, 60.0


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


@dataclass
class FleetSettings:
    model_repository: str  # a built folder (uploaded to the object store) or an s3:// URL (served as it is)
    replicas: int = field(default_factory=lambda: defaults.from_env("FLEET_REPLICAS", int))
    gateways: int = defaults.FLEET_GATEWAYS
    run_dir: Path = Path(defaults.FLEET_RUN_DIR)
    host: str = "127.0.0.1"
    # Where the balancer answers: where make serve and make app do
    triton_grpc_port: int = field(default_factory=lambda: defaults.from_env("TRITON_GRPC_PORT", int))
    triton_http_port: int = field(default_factory=lambda: defaults.from_env("TRITON_HTTP_PORT", int))
    app_port: int = field(default_factory=lambda: defaults.from_env("APP_PORT", int))
    riva_port: int = field(default_factory=lambda: defaults.from_env("RIVA_PORT", int))
    # Given: used as they are; else a PostgreSQL database and a bucket of the fleet's own
    database_url: str | None = field(default_factory=lambda: _env("DATABASE_URL"))
    media_url: str | None = field(default_factory=lambda: _env("APP_MEDIA_URL"))
    environment: dict[str, str] = field(default_factory=dict)  # more variables for every process (APP_*, ...)
    ready_timeout_s: float = 300.0

    def __post_init__(self):
        if self.replicas < 1 or self.gateways < 1:
            raise FleetError(f"a fleet needs at least one replica and one gateway (FLEET_REPLICAS={self.replicas})")


class Fleet:
    """``start()`` (or ``with Fleet(settings) as fleet:``), ``supervise()`` now and then, ``stop()``."""

    def __init__(self, settings: FleetSettings):
        self.settings = settings
        self.run_dir = Path(settings.run_dir).resolve()
        self.stopping = threading.Event()
        self.object_store: ObjectStore | None = None
        self.postgres: PostgresServer | None = None
        self.replicas: list[TritonReplica] = []
        self.gateways: list[Gateway] = []
        self.balancer: Child | None = None
        self.repository_url = self.database_url = self.media_url = self.page = None
        self.stats_socket = self.run_dir / "haproxy.sock"
        self.listen = haproxy.Listen(settings.host, settings.triton_grpc_port, settings.triton_http_port,
                                     settings.app_port, settings.riva_port)
        self._restart_at: dict[str, float] = {}
        self._restart_wait: dict[str, float] = {}
        self._lost: set[str] = set()

    @property
    def triton_grpc_url(self) -> str:
        return f"{self.settings.host}:{self.settings.triton_grpc_port}"

    @property
    def triton_http_url(self) -> str:
        return f"{self.settings.host}:{self.settings.triton_http_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.app_port}"

    @property
    def children(self) -> list[Child]:
        store = [self.object_store.process] if self.object_store else []
        return [*self.gateways, *([self.balancer] if self.balancer else []), *self.replicas, *store]

    # --- start ----------------------------------------------------------------------------------------------------

    def start(self) -> "Fleet":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.stats_socket.unlink(missing_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        settings = self.settings
        local_repository = not is_remote(settings.model_repository)
        if local_repository and not built_models(settings.model_repository):
            raise FleetError(f"{settings.model_repository} has no built model: run `make repository`")
        if local_repository or settings.media_url is None:
            self.object_store = ObjectStore(host=settings.host, log_path=self.run_dir / "object-store.log").start()
        self.repository_url = self._repository(local_repository)
        self.media_url = settings.media_url or self._media_bucket()
        self.database_url = settings.database_url or self._postgres()
        self.page = self._prepare_database()
        log.info("starting %d Triton replica(s) on %s", settings.replicas, self.repository_url)
        replica_env = {**os.environ, **settings.environment}
        if local_repository:
            replica_env.update(CREDENTIALS)  # the fleet's store: its credentials, not the environment's
        self.replicas = [triton_replica(i, self.repository_url, new_ports(), self.run_dir, replica_env)
                         for i in range(settings.replicas)]
        for replica in self.replicas:
            replica.start()
        for replica in self.replicas:
            replica.wait_ready(settings.ready_timeout_s, self.stopping)
        gateway_ports = [haproxy.GatewayPorts(free_port(settings.host), free_port(settings.host))
                         for _ in range(settings.gateways)]
        config = self.run_dir / "haproxy.cfg"
        config.write_text(haproxy.render(self.listen, [r.balanced for r in self.replicas], gateway_ports,
                                         self.stats_socket, settings.host))
        self.balancer = haproxy.balancer(config, self.listen, self.run_dir / "haproxy.log").start()
        self.balancer.wait_ready(30, self.stopping)
        gateway_env = {**os.environ, **settings.environment, "DATABASE_URL": self.database_url,
                       "APP_MEDIA_URL": self.media_url, "APP_LOCAL_KEY_FILE": str(self.local_key_file)}
        if settings.media_url is None:
            gateway_env.update(self.object_store.environment())
        self.gateways = [gateway(i, port, self.triton_grpc_url, self.run_dir, gateway_env)
                         for i, port in enumerate(gateway_ports)]
        for child in self.gateways:
            child.start()
        for child in self.gateways:
            child.wait_ready(settings.ready_timeout_s, self.stopping)
        self.wait_balanced(30)

    def _repository(self, local: bool) -> str:
        if not local:
            return self.settings.model_repository
        store = self.object_store
        store.create_bucket(MODELS_BUCKET)
        url = store.repository_url(MODELS_BUCKET, MODELS_PATH)
        upload(Path(self.settings.model_repository), url, client=store.client())
        return url

    def _media_bucket(self) -> str:
        self.object_store.create_bucket(MEDIA_BUCKET)
        return f"s3://{MEDIA_BUCKET}/{MEDIA_PREFIX}"

    def _postgres(self) -> str:
        self.postgres = PostgresServer(free_port(self.settings.host))
        self.postgres.start()
        return self.postgres.create_database(DATABASE_NAME)

    @property
    def local_key_file(self) -> Path:
        return self.run_dir / "local-api-key"

    def _prepare_database(self) -> str:
        """Migrate the database once, and make the page's local key (the gateways find it and make none): the
        page's address."""
        from triton_speech.gateway.cli import page_address
        from triton_speech.gateway.database import Database
        from triton_speech.gateway.settings import GatewaySettings

        database = Database(self.database_url)
        try:
            database.migrate()
        finally:
            database.close()
        gateway_settings = GatewaySettings(database_url=self.database_url, local_key_file=self.local_key_file)
        return page_address(gateway_settings, self.settings.host, self.settings.app_port)

    def wait_balanced(self, timeout_s: float) -> None:
        """Until the balancer sees every server up."""
        deadline = time.monotonic() + timeout_s
        while True:
            down = sorted(f"{backend}/{server}" for (backend, server), row in
                          haproxy.server_stats(self.stats_socket).items() if row["status"] != "UP")
            if not down:
                return
            if time.monotonic() > deadline:
                raise FleetError(f"the balancer still sees {', '.join(down)} down after {timeout_s:.0f} s")
            if self.stopping.wait(0.2):
                return

    # --- run ------------------------------------------------------------------------------------------------------

    def supervise(self) -> None:
        """One round: note the sessions of running parts, restart the parts that exited (after their wait)."""
        now = time.monotonic()
        for child in self.children:
            if self.stopping.is_set():
                return
            if child.running():
                child.track()
                continue
            if not child.restart:
                if child.name not in self._lost:
                    self._lost.add(child.name)
                    log.error("%s exited with code %s: not started again, what it held is gone (log %s)", child.name,
                              child.process.returncode, child.log_path)
                continue
            if child.name not in self._restart_at:
                self._exited(child, now)
            elif now >= self._restart_at[child.name]:
                del self._restart_at[child.name]
                log.info("starting %s again", child.name)
                child.start()

    def _exited(self, child: Child, now: float) -> None:
        ran_s = now - child.started_at
        wait = self._restart_wait.get(child.name, RESTART_FIRST_S)
        wait = RESTART_FIRST_S if ran_s > RESTART_RESET_S else wait
        self._restart_wait[child.name] = min(2 * wait, RESTART_MAX_S)
        self._restart_at[child.name] = now + wait
        log.warning("%s exited with code %s after %.1f s; starting it again in %.0f s (log %s):\n%s", child.name,
                    child.process.returncode, ran_s, wait, child.log_path, child.log_tail(10))
        child.kill_leftovers()

    def run(self) -> None:
        """Supervise until ``stopping`` is set."""
        while not self.stopping.wait(0.5):
            self.supervise()

    # --- stop -----------------------------------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Stop everything started, in order; what had to be killed because it outlived its parent, by name (the
        parts clean up after themselves: an empty list)."""
        self.stopping.set()
        started = time.monotonic()
        left: list[str] = []
        for group in (self.gateways, [self.balancer] if self.balancer else [], self.replicas):
            with ThreadPoolExecutor(max(1, len(group))) as pool:
                for child, pids in zip(group, pool.map(Child.stop, group)):
                    left += [f"{child.name}: process {pid}" for pid in pids]
        if self.postgres is not None:
            self.postgres.close()
            self.postgres = None
        if self.object_store is not None:
            left += [f"object-store: process {pid}" for pid in self.object_store.stop()]
        log.info("fleet stopped in %.1f s", time.monotonic() - started)
        return left

    def __enter__(self) -> "Fleet":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def describe(self) -> str:
        s = self.settings
        lines = [f"Fleet ready: {len(self.replicas)} Triton replica(s) and {len(self.gateways)} gateway(s) behind "
                 f"HAProxy (log {self.run_dir}).",
                 f"  Triton, balanced: gRPC {self.triton_grpc_url}, HTTP {self.triton_http_url}",
                 f"  Gateways, balanced: open {self.page}; Riva API {s.host}:{s.riva_port}"]
        lines += [f"  {r.name}: HTTP {r.ports.http}, gRPC {r.ports.grpc}, metrics {r.ports.metrics}" for r in
                  self.replicas]
        lines += [f"  {g.name}: port {g.port}, Riva {g.riva_port}" for g in self.gateways]
        store = f" ({self.object_store.endpoint_url})" if self.object_store else ""
        lines += [f"  Model repository: {self.repository_url}", f"  Media: {self.media_url}{store}",
                  f"  Database: {self.database_url}", f"  Balancer statistics: HAProxy's socket {self.stats_socket}",
                  f"Ctrl-C stops everything ({s.replicas} replicas: FLEET_REPLICAS)."]
        return "\n".join(lines)

