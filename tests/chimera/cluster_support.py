"""A local Redis Cluster for tests and CI: three masters on loopback ports, started once.

``ensure_cluster()`` is idempotent: a cluster that already answers on the ports is used as
it is; nodes that do not answer are started (``redis-server --cluster-enabled yes``, no
persistence) and joined with ``redis-cli --cluster create``. A lock file serialises
concurrent starters (several pytest sessions, ``.ci/run``). Run as a module to start it
from a shell: ``python -m tests.chimera.cluster_support`` prints the URL.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from redis.crc import key_slot

#: The masters' ports unless ``CHIMERA_TEST_CLUSTER_PORTS`` (comma-separated) says otherwise.
DEFAULT_PORTS = (7001, 7002, 7003)
HOST = "127.0.0.1"


class ClusterUnavailable(RuntimeError):
    """The cluster could not be started (no redis-server, a port taken by something else)."""


def cluster_ports() -> tuple[int, ...]:
    """The ports of the test cluster's masters."""
    raw = os.environ.get("CHIMERA_TEST_CLUSTER_PORTS", "")
    return tuple(int(p) for p in raw.split(",") if p.strip()) or DEFAULT_PORTS


def cluster_url(ports: Sequence[int]) -> str:
    """``redis+cluster://`` naming every master."""
    return "redis+cluster://" + ",".join(f"{HOST}:{port}" for port in ports)


def _command(port: int, *args: str) -> str | None:
    """One inline command to the node on ``port``; its reply as text, ``None`` if no answer."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as conn:
            conn.sendall((" ".join(args) + "\r\n").encode())
            data = b""
            conn.settimeout(2)
            while True:
                chunk = conn.recv(65536)
                data += chunk
                if not chunk or _complete(data):
                    return data.decode(errors="replace")
    except OSError:
        return None


def _complete(data: bytes) -> bool:
    if data.startswith((b"+", b"-", b":")):
        return data.endswith(b"\r\n")
    if data.startswith((b"$", b"=")):  # a bulk string: length line, then the payload
        head, _, rest = data.partition(b"\r\n")
        return len(rest) >= int(head[1:]) + 2
    return data.endswith(b"\r\n")


def _info(port: int) -> dict[str, str]:
    reply = _command(port, "CLUSTER", "INFO") or ""
    pairs = (line.split(":", 1) for line in reply.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _healthy(ports: Sequence[int]) -> bool:
    for port in ports:
        info = _info(port)
        if info.get("cluster_state") != "ok" or info.get("cluster_known_nodes") != str(len(ports)):
            return False
    return True


def _start_node(port: int, folder: Path, fresh: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if fresh:
        # No node is up: forget any old cluster, and create a new one below. (A node that
        # restarts while the others run keeps its nodes.conf, so it rejoins with its slots.)
        (folder / "nodes.conf").unlink(missing_ok=True)
    subprocess.run(
        [
            "redis-server",
            "--port", str(port),
            "--bind", HOST,
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(folder / "nodes.conf"),
            "--cluster-node-timeout", "5000",
            "--dir", str(folder),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "yes",
            "--logfile", str(folder / "redis.log"),
        ],
        check=True,
    )  # fmt: skip


def _wait(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise ClusterUnavailable(f"timed out waiting for {what}")


def ensure_cluster(ports: Sequence[int] | None = None, root: Path | None = None) -> str:
    """Make sure a healthy cluster of masters answers on ``ports``; return its URL.

    Raises:
        ClusterUnavailable: redis-server or redis-cli is missing, or the cluster did not
            become healthy (a port held by a server that is not a cluster node, say).
    """
    ports = tuple(ports or cluster_ports())
    root = root or Path(os.environ.get("TMPDIR", "/tmp")) / "chimera-test-cluster"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _healthy(ports):
            return cluster_url(ports)
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise ClusterUnavailable("redis-server and redis-cli are needed to start a cluster")
        down = [port for port in ports if _command(port, "PING") is None]
        for port in down:
            _start_node(port, root / str(port), fresh=len(down) == len(ports))
        _wait(lambda: all(_command(p, "PING") for p in ports), 10, "the cluster nodes to start")
        if all(_info(p).get("cluster_slots_assigned") == "0" for p in ports):
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(f"{HOST}:{p}" for p in ports),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        _wait(lambda: _healthy(ports), 20, f"a healthy cluster on ports {list(ports)}")
        return cluster_url(ports)


def tenant_in_slot(slot: int, stem: str = "t") -> str:
    """A tenant name whose hash slot is ``slot`` (``{name}`` is the hash tag of its keys)."""
    for i in range(1_000_000):
        name = f"{stem}{i}"
        if key_slot(f"{{{name}}}".encode()) == slot:
            return name
    raise AssertionError(f"no tenant name found for slot {slot}")


def masters(port: int) -> dict[str, tuple[int, list[int]]]:
    """Node id → (port, slots it serves) of every master, as the node on ``port`` sees them."""
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "CLUSTER", "NODES"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, tuple[int, list[int]]] = {}
    for line in out.splitlines():
        fields = line.split()
        if "master" not in fields[2]:
            continue
        slots: list[int] = []
        for part in fields[8:]:
            if part.startswith("["):
                continue  # a slot being migrated or imported
            low, _, high = part.partition("-")
            slots.extend(range(int(low), int(high or low) + 1))
        found[fields[0]] = (int(fields[1].split(":")[1].split("@")[0]), slots)
    return found


def tenants_on_every_master(port: int, stem: str = "t") -> dict[str, int]:
    """One tenant per master, each in the lowest slot that master serves: tenant → port."""
    return {
        tenant_in_slot(min(slots), stem): node_port
        for node_port, slots in masters(port).values()
        if slots
    }


if __name__ == "__main__":
    try:
        print(ensure_cluster())
    except (ClusterUnavailable, subprocess.CalledProcessError) as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        sys.exit(1)
