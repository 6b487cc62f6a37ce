"""Reloads a model whose python stub process died."""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tritonclient.utils import InferenceServerException

from triton_speech.server.procfs import python_stubs

if TYPE_CHECKING:
    from triton_speech.server.process import TritonServer

log = logging.getLogger("triton_speech.server")


@dataclass
class StubEvent:
    model: str
    pid: int
    died_at: float  # time.monotonic()
    ready_at: float | None = None  # when the reloaded model (and its ensembles) answered ready again
    error: str = ""


class StubWatchdog(threading.Thread):
    """Reloads a model whose python stub process died.

    Triton 2.51 keeps such a model READY and answers every request to it with INTERNAL "Stub process ... is not
    healthy" until it is reloaded. The watchdog holds a pidfd per stub, so it hears of a death at once; it unloads
    the model (the server reports not ready, and its ensembles are unavailable meanwhile) and loads it and the
    ensembles again. Stubs that exit because Triton unloaded their model, or replaced the instance by reloading
    the model (the new stub starts before the old one exits), are left alone.
    """

    def __init__(self, server: TritonServer, rescan_s: float = 1.0):
        super().__init__(name="stub-watchdog", daemon=True)
        self.server = server
        self.rescan_s = rescan_s
        self.events: list[StubEvent] = []
        self.orphans = 0  # dead instances Triton still counts as live (they never finish unloading)
        self._stopping = threading.Event()
        self._watched: dict[int, tuple[int, str, str]] = {}  # pidfd -> (pid, model, instance)
        self._loaded = server.models()
        self._server_pid = server.process.pid
        self._client = None  # the model-repository client, made in this thread (its connection pool is per thread)
        self.server_died_at: float | None = None  # when tritonserver exited by itself, and its stubs were ended
        self.stubs_ended_at: float | None = None

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)

    def run(self) -> None:
        poller = select.poll()
        self._client = self.server.repository_client()
        server = os.pidfd_open(self.server.process.pid)
        poller.register(server, select.POLLIN)
        try:
            while not self._stopping.is_set():
                self._watch_new_stubs(poller)
                for fd, _ in poller.poll(self.rescan_s * 1000):
                    if fd == server:
                        return self._server_died()
                    pid, model, instance = self._watched.pop(fd)
                    poller.unregister(fd)
                    os.close(fd)
                    if not self._stopping.is_set():
                        self._heal(model, instance, pid)
        finally:
            for fd in [server, *self._watched]:
                os.close(fd)
            self._client.close()

    def _server_died(self) -> None:
        """tritonserver exited by itself (killed, crashed): its python stubs would run on (they ignore SIGTERM, and
        some never notice): end them now, not when someone stops the launcher."""
        if self._stopping.is_set():
            return
        self.server_died_at = time.monotonic()
        killed = self.server.end_leftovers()
        self.stubs_ended_at = time.monotonic()
        log.error("tritonserver (pid %d) exited by itself; ended %d python stub(s) it left in %.2f s",
                  self._server_pid, len(killed), self.stubs_ended_at - self.server_died_at)

    def _watch_new_stubs(self, poller) -> None:
        known = {pid for pid, _, _ in self._watched.values()}
        for pid, (model, instance) in python_stubs(self._server_pid).items():
            # A stub named after the model itself serves the model's own set-up while it loads, then exits.
            if pid in known or instance == model:
                continue
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                continue
            self._watched[fd] = (pid, model, instance)
            poller.register(fd, select.POLLIN)

    def _model_state(self, model: str) -> str:
        index = self._client.get_model_repository_index(headers=self.server.admin_headers("http"))
        return next((entry.get("state", "") for entry in index if entry["name"] == model), "")

    def _load(self, model: str) -> None:
        self._client.load_model(model, headers=self.server.admin_headers("http"))

    def _heal(self, model: str, instance: str, pid: int) -> None:
        event = StubEvent(model, pid, time.monotonic())
        try:
            if instance in (name for _, name in python_stubs(self._server_pid).values()):
                return  # a reload replaced this instance
            if self._model_state(model) != "READY":
                return  # Triton unloaded it on purpose (shutdown, an admin's unload): not a failure
            self.events.append(event)
            log.warning("the python stub of model %r (pid %d) died; reloading the model", model, pid)
            self._client.unload_model(model, headers=self.server.admin_headers("http"))
            self.orphans += 1
            self._load(model)
            for name in self._loaded:  # the ensembles that use it were unloaded with it
                if self._model_state(name) != "READY":
                    self._load(name)
            event.ready_at = time.monotonic()
            log.warning("model %r is ready again %.1f s after its stub died", model, event.ready_at - event.died_at)
        except (OSError, InferenceServerException) as error:
            event.error = str(error)
            log.error("could not reload model %r after its stub died: %s", model, error)
