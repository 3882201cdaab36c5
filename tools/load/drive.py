"""The load run itself: every simulated participant against both instances at once, the /healthz
baseline probed throughout, one worker killed by SIGKILL once --kill-at of the answers are in, and the
CPU the servers and the machine used meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import time

import aiohttp

from tools.load.cpu_accounting import CpuTracker, healthz_cpu, machine_cpu_seconds
from tools.load.participants import PER_CATEGORY, Run, participant
from tools.load.servers import Instance, mid_request, wait_ready, warm_up


async def healthz_probe(run: Run, stop: asyncio.Event) -> None:
    """The baseline: GET /healthz at a fixed rate through the whole run, alternating instances. Each probe
    is its own task, so a slow one does not thin out the samples."""
    tasks = set()
    for i in itertools.count():
        if stop.is_set():
            break
        task = asyncio.create_task(run.call(run.instances[i % len(run.instances)], "GET", "/healthz", "healthz"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        try:
            await asyncio.wait_for(stop.wait(), 1 / run.args.healthz_rate)
        except TimeoutError:
            pass
    await asyncio.gather(*tasks, return_exceptions=True)


async def killer(run: Run, expected_answers: int) -> None:
    """SIGKILL one worker of the first instance once the given share of answers is in; its master respawns it."""
    while len(run.acks) < run.args.kill_at * expected_answers:
        await asyncio.sleep(0.05)
    instance = run.instances[0]
    before = instance.workers()
    # Aim at a worker in the middle of a request, so the kill loses a response (look for up to 5 s).
    victim, busy = random.choice(before), False
    looking_until = time.monotonic() + 5
    while time.monotonic() < looking_until and not busy:
        candidates = mid_request(before, instance.port)
        if candidates:
            victim, busy = random.choice(candidates), True
        else:
            await asyncio.sleep(0.002)
    os.kill(victim, signal.SIGKILL)
    run.kill = {
        "instance": instance.name,
        "pid": victim,
        "at": run.now(),
        "acks": len(run.acks),
        "busy": busy,
        "in_flight": run.in_flight[instance.name],
    }
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now_workers = set(instance.workers())
        if victim not in now_workers and len(now_workers) >= len(before):
            run.kill["respawned_as"] = sorted(now_workers - set(before))
            run.kill["respawn_s"] = run.now() - run.kill["at"]
            return
        await asyncio.sleep(0.1)


async def drive(args: argparse.Namespace, instances: list[Instance], invite: str) -> Run:
    for instance in instances:
        await wait_ready(instance)
    await warm_up(instances, args.workers * args.threads * 2)
    cpu = CpuTracker(instances, args.database)
    machine_before = machine_cpu_seconds()
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    # Each simulated browser opens what it needs. Idle connections are dropped after 1 s, before gunicorn's
    # 2 s keep-alive closes them: otherwise a request can go out on a socket the server is closing.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=1.0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as client:
        # aiohttp silently resends a GET once when the server drops the connection; this tool does its own
        # browser-like retries so that every lost response is counted and attributed. (No public switch.)
        if hasattr(client, "_retry_connection"):
            client._retry_connection = False
        run = Run(args, instances, invite, client)
        stop = asyncio.Event()
        probe = asyncio.create_task(healthz_probe(run, stop))
        sampler = asyncio.create_task(cpu.follow(stop))
        kill = asyncio.create_task(killer(run, args.participants * 3 * PER_CATEGORY))
        people = [asyncio.create_task(participant(run, i)) for i in range(args.participants)]
        done, pending = await asyncio.wait(people, timeout=args.max_seconds)
        for task in pending:
            task.cancel()
            run.gave_up.append("participant still running at --max-seconds")
        stop.set()
        await probe
        if not kill.done():
            kill.cancel()
            run.anomalies["no worker killed: run ended before --kill-at"] += 1
        run.wall = run.now()
        await sampler
        run.cpu = cpu.used()
        machine_after = machine_cpu_seconds()
        run.cpu["machine"] = machine_after[0] - machine_before[0]
        run.cpu["steal"] = machine_after[1] - machine_before[1]
    run.healthz_cpu = await healthz_cpu(instances, args.database, args.healthz_cpu_requests)
    return run
