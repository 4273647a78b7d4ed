"""A throw-away PostgreSQL server for tests, from the OS package's binaries.

`initdb` in a temporary folder, password authentication, a free port on 127.0.0.1 only, fsync
off (test data need not survive a power cut), stopped and removed at the end. PostgreSQL refuses
to run as root, so under root the server runs as the `postgres` (or `nobody`) user.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

USER, PASSWORD = "iqa", "pg-test-secret-7f3a"


def server_bin_dir() -> Optional[Path]:
    """The folder holding initdb, pg_ctl and postgres, or None when PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    candidates = [Path(os.path.realpath(found)).parent] if found else []
    candidates += [Path(d) for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for d in candidates:
        if all((d / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _unprivileged_user() -> Optional[pwd.struct_passwd]:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server; `url(db)` is a SQLAlchemy URL with the test password in it."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.user = _unprivileged_user()
        self.root = Path(tempfile.mkdtemp(prefix="iqa-pg-"))
        self.data = self.root / "data"
        self.port = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        def demote():
            if self.user is not None:
                os.setgid(self.user.pw_gid)
                os.setuid(self.user.pw_uid)
        return subprocess.run([str(self.bin_dir / args[0]), *args[1:]], capture_output=True, text=True,
                              preexec_fn=demote, cwd=self.root, timeout=120, check=True)

    def start(self) -> "PostgresServer":
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user is not None:
            for path in (self.root, pwfile):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile),
                  "--auth", "scram-sha-256", "--encoding", "UTF8", "--no-sync")
        for _ in range(5):  # the free port can be taken between the probe and the start
            self.port = _free_port()
            options = (f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off "
                       f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                          "-o", options, "start")
                return self
            except subprocess.CalledProcessError:
                continue
        raise RuntimeError(f"PostgreSQL did not start: {(self.root / 'server.log').read_text()[-2000:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if self.data.is_dir():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
