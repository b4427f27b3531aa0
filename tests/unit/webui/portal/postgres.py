"""A throwaway PostgreSQL server for the mirror's tests: Debian's ``postgresql`` binaries,
a fresh cluster (initdb) in a temporary directory, listening on 127.0.0.1 at a free port,
stopped and deleted at the end.

PostgreSQL refuses to run as root; as root, the cluster is made and run as the
``postgres`` system user that Debian's package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise PostgresUnavailable(
        f"{name} not found: install Debian's postgresql package (`make test` does: "
        "apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh cluster's ``postgres`` database."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="gridledger-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no postgres user to run "
                                      "the server as (Debian's postgresql package makes it)") \
                from None
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "mirror", "-A", "trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        opts = (f"-c listen_addresses=127.0.0.1 -c port={port} "
                f"-c unix_socket_directories={root} -c fsync=off")
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", opts, "-l",
                        str(root / "server.log"), "-w", "-t", "60", "start"], check=True,
                       capture_output=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"postgresql+psycopg://mirror@127.0.0.1:{port}/postgres"
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log")
        raise PostgresUnavailable(
            f"{exc.cmd[len(as_user)]} failed: {exc.stderr.decode(errors='replace')}"
            + (log.read_text() if log.exists() else "")) from None
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """Create database ``name`` on the cluster of ``url``; its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/" + name
