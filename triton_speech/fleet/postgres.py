"""A private PostgreSQL server: Debian's PostgreSQL binaries, ``initdb`` into a new private directory and
``pg_ctl -w start`` on a loopback port (about a second). As root, the server runs as the ``postgres`` user: PostgreSQL
refuses to run as root. The local fleet keeps its gateways' rows in one; the gateway tests run on one too."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

# Debian's layout: /usr/lib/postgresql/<major>/bin (the newest installed major first)
BIN_DIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)


def bin_dir() -> Path | None:
    found = next((d for d in BIN_DIRS if Path(d, "initdb").exists()), None)
    return Path(found) if found else None


class PostgresServer:
    """``start()``, ``url(database)``, ``create_database(name)``, ``stop()``, ``start()`` again (the data stays),
    ``close()`` (stops and removes the directory)."""

    def __init__(self, port: int, binaries: Path | None = None):
        self.port = port
        self.binaries = binaries or bin_dir()
        if self.binaries is None:
            raise FileNotFoundError("no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install "
                                    "postgresql)")
        self.root = Path(tempfile.mkdtemp(prefix="triton-speech-postgres-"))
        self.data, self.sockets, self.log = self.root / "data", self.root / "sockets", self.root / "postgres.log"
        self.sockets.mkdir()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockets, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.binaries / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root)

    def start(self) -> None:
        # fsync off: a throwaway database need not survive a power cut, and fsyncs are slow on a shared disk
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop at once, closing the clients' connections (what an outage looks like to the gateway)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def pid(self) -> int | None:
        """The postmaster's process id while it runs (its first line of ``postmaster.pid``)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
