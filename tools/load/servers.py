"""The gunicorn instances of a load run and their processes: starting one (its access log records each
request's worker pid and the client's request id), waiting until it answers, warming its workers up,
stopping it with its workers, reading its access log, and finding a worker in the middle of a request
(the one the run kills), all from /proc.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tools.load.common import REPO

ACCESS_LOG_FORMAT = '%(p)s %({x-load-request}i)s %(s)s %(M)s "%(r)s"'  # pid, our request id, status, ms


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid: int) -> list[int]:
    """Live child processes of `pid` (a gunicorn master's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces; fields after ')' do not
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def established_socket_inodes(port: int) -> set[str]:
    """Socket inodes of TCP connections to 127.0.0.1:`port` that are established (from /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(fields[9])
    return inodes


def sockets(pid: int) -> set[str]:
    """Inodes of the sockets a process holds."""
    found = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                found.add(target[8:-1])
    except OSError:
        pass
    return found


def mid_request(pids: list[int], port: int) -> list[int]:
    """Workers holding the same client connection in two looks 5 ms apart: in the middle of a request,
    not between sending a response and closing the socket. A sync worker's other sockets (the listening
    one, its database connection) are told apart once, through /proc/net/tcp, which is slow to read with
    thousands of closed connections in TIME_WAIT; the two looks then read only the workers' fds."""
    clients_now = established_socket_inodes(port)
    steady = {pid: sockets(pid) - clients_now for pid in pids}
    first = {pid: sockets(pid) - steady[pid] for pid in pids}
    time.sleep(0.005)
    return [pid for pid in pids if first[pid] & (sockets(pid) - steady[pid])]


@dataclass
class Instance:
    name: str
    port: int
    process: subprocess.Popen
    access_log: Path
    error_log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        return children(self.process.pid)


def instance_start(name: str, folder: Path, environment: dict[str, str], workers: int, threads: int) -> Instance:
    port = free_port()
    access_log, error_log = folder / f"{name}-access.log", folder / f"{name}-error.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "--error-logfile",
        str(error_log),
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    # Own process group: the cleanup can end the master and its workers together, and nothing else.
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, **environment},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Instance(name, port, process, access_log, error_log)


async def wait_ready(instance: Instance, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            if instance.process.poll() is not None:
                raise RuntimeError(f"gunicorn {instance.name} exited: see {instance.error_log}")
            try:
                async with client.get(instance.base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError(f"gunicorn {instance.name} did not answer /healthz within {timeout_s} s")


async def warm_up(instances: list[Instance], per_instance: int) -> None:
    """Each worker loads the URLconf, DRF and its database connection on its first requests; a deployment
    that has run for a minute has done so, so this is kept out of the measurement (a respawned worker's
    cold start after the kill is not: it is part of the run)."""
    async with aiohttp.ClientSession() as client:

        async def hit(url: str) -> None:
            async with client.get(url) as response:
                await response.read()

        for _ in range(3):
            await asyncio.gather(
                *(
                    hit(instance.base + path)
                    for instance in instances
                    for _ in range(per_instance)
                    for path in ("/healthz", "/api/participant/question/")
                )
            )


def instance_stop(instance: Instance) -> None:
    """SIGTERM the master (it stops its workers), then SIGKILL what is left of its process group."""
    if instance.process.poll() is None:
        instance.process.send_signal(signal.SIGTERM)
        try:
            instance.process.wait(15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(instance.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    instance.process.wait()


def access_log_entries(instance: Instance) -> dict[str, tuple[int, int]]:
    """request id -> (worker pid, status) for every request a worker finished and logged."""
    entries = {}
    for line in instance.access_log.read_text().splitlines():
        parts = line.split(" ", 4)
        if len(parts) >= 4 and parts[1] != "-":
            entries[parts[1]] = (int(parts[0].strip("<>")), int(parts[2]))
    return entries
