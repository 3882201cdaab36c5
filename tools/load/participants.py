"""The simulated participant: one browser request with its retries (Run.call), the outcomes the server
acknowledged (Run.acknowledge), and a participant's walk through the study: session start, begin, then
per question its portraits, clock start and an answer, a skip or an expire. Run holds everything a
load run records.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from tools.load.servers import Instance

PER_CATEGORY = 10  # the paper's 10 questions per category: 30 timed questions per participant
MAX_ATTEMPTS = 8  # a patient browser: reloads with backoff for ~30 s before giving up


@dataclass
class Attempt:
    """One HTTP request as sent; a retry is a new attempt."""

    label: str
    instance: str
    request_id: str
    started: float  # seconds since the run began
    ended: float
    status: int | None  # None: no response (connection error or client timeout)
    error: str = ""

    @property
    def ms(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass
class Ack:
    outcome: str
    choice: str | None  # what the participant sent (None for a skip or an expire)
    via: str  # "200", or "409" when a retry found the first outcome already recorded
    intent: str = ""  # what the participant did: answered, skipped or timeout (let the time run out)


@dataclass
class Reply:
    status: int
    body: dict | list | None


class GaveUp(Exception):
    pass


@dataclass
class Run:
    args: argparse.Namespace
    instances: list[Instance]
    invite: str
    client: aiohttp.ClientSession
    began: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    acks: dict[int, Ack] = field(default_factory=dict)
    ack_conflicts: list[str] = field(default_factory=list)
    anomalies: Counter = field(default_factory=Counter)
    active: int = 0
    peak_active: int = 0
    finished: int = 0
    gave_up: list[str] = field(default_factory=list)
    sessions_started: int = 0
    kill: dict = field(default_factory=dict)
    wall: float = 0.0
    in_flight: Counter = field(default_factory=Counter)  # requests awaiting a response, by instance
    cpu: Counter = field(default_factory=Counter)
    healthz_cpu: dict[str, float] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=itertools.count)

    def now(self) -> float:
        return time.monotonic() - self.began

    async def call(
        self,
        instance: Instance,
        method: str,
        path: str,
        label: str,
        *,
        token: str | None = None,
        json: dict | None = None,
    ) -> Reply:
        """One browser request: retried with backoff on a lost response or a 5xx, like a reload."""
        for attempt in range(MAX_ATTEMPTS):
            request_id = f"r{next(self.ids)}"
            headers = {"X-Load-Request": request_id}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            started = self.now()
            self.in_flight[instance.name] += 1
            try:
                async with self.client.request(method, instance.base + path, json=json, headers=headers) as response:
                    raw = await response.read()
                    status = response.status
                    is_json = response.content_type == "application/json"
            except (TimeoutError, aiohttp.ClientError) as error:
                self.in_flight[instance.name] -= 1
                self.attempts.append(
                    Attempt(label, instance.name, request_id, started, self.now(), None, type(error).__name__)
                )
            else:
                self.in_flight[instance.name] -= 1
                self.attempts.append(Attempt(label, instance.name, request_id, started, self.now(), status))
                if status < 500:
                    return Reply(status, _json(raw) if is_json and raw else None)
            await asyncio.sleep(min(5.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.5))
        raise GaveUp(f"{method} {path} failed {MAX_ATTEMPTS} times")

    def acknowledge(self, question_id: int, reply: Reply, choice: str | None, intent: str) -> None:
        """Note an outcome the server acknowledged: 200, or 409 already_answered carrying the first outcome."""
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status == 200:
            ack = Ack(body["outcome"], choice, "200", intent)
        elif reply.status == 409 and body.get("error") == "already_answered":
            ack = Ack(body["outcome"], choice, "409", intent)
        else:
            self.anomalies[f"answer refused: {reply.status} {body.get('error', '')}"] += 1
            return
        earlier = self.acks.get(question_id)
        if earlier is not None and earlier.outcome != ack.outcome:
            self.ack_conflicts.append(f"question {question_id}: {earlier.outcome} then {ack.outcome}")
        self.acks.setdefault(question_id, ack)


def _json(raw: bytes):
    import json

    return json.loads(raw)


async def fetch_images(run: Run, instance: Instance, token: str, question: dict) -> None:
    """The page preloads every portrait of the question together (a browser opens up to 6 at once)."""
    urls = question["stimulus_urls"] + [o["image_url"] for o in question["options"] if o["image_url"]]
    replies = await asyncio.gather(*(run.call(instance, "GET", url, "image", token=token) for url in urls))
    if any(r.status != 200 for r in replies):
        run.anomalies["image not 200"] += 1


async def session_start(run: Run, instance: Instance, index: int) -> str:
    reply = await run.call(
        instance,
        "POST",
        "/api/participant/sessions/",
        "session start",
        json={
            "invite": run.invite,
            "consent": True,
            "profession": "clinical_geneticist",
            "years_experience": random.randint(1, 30),
            "participant_id": f"load-participant-{index}",
        },
    )
    if reply.status not in (200, 201):
        raise GaveUp(f"session start answered {reply.status}: {reply.body}")
    run.sessions_started += 1
    return reply.body["token"]


async def answer_question(run: Run, instance: Instance, token: str, question: dict) -> None:
    """Start the clock once the images are in, think, then answer, skip, or let the time run out."""
    qid = question["id"]
    # Practice answers are never exported, so they are not checked against the export either.
    acknowledge = (lambda *_: None) if question["practice"] else run.acknowledge
    started = await run.call(instance, "POST", f"/api/participant/questions/{qid}/start/", "clock start", token=token)
    if started.status != 200:
        run.anomalies[f"clock start {started.status}"] += 1
        return
    remaining_s = started.body["remaining_ms"] / 1000
    roll = random.random()
    if roll < run.args.timeout_share:
        await asyncio.sleep(remaining_s + 0.05)
        while True:
            reply = await run.call(instance, "POST", f"/api/participant/questions/{qid}/expire/", "expire", token=token)
            body = reply.body if isinstance(reply.body, dict) else {}
            if reply.status == 409 and body.get("error") == "not_expired":  # our clock ran ahead of the server's
                await asyncio.sleep(body["remaining_ms"] / 1000 + 0.05)
                continue
            acknowledge(qid, reply, None, "timeout")
            return
    # The question accepts answers once its portraits have been shown for the arming delay.
    await asyncio.sleep(max(random.uniform(*run.args.think), question["arming_delay_ms"] / 1000))
    if roll < run.args.timeout_share + run.args.skip_share:
        reply = await run.call(instance, "POST", f"/api/participant/questions/{qid}/skip/", "skip", token=token)
        acknowledge(qid, reply, None, "skipped")
    else:
        choice = random.choice(question["options"])["code"]
        reply = await run.call(
            instance,
            "POST",
            f"/api/participant/questions/{qid}/answer/",
            "answer",
            token=token,
            json={"choice": choice},
        )
        acknowledge(qid, reply, choice, "answered")


async def participant(run: Run, index: int) -> None:
    instance = run.instances[index % len(run.instances)]  # clients spread over both instances
    await asyncio.sleep(run.args.ramp * index / run.args.participants)
    active = False
    try:
        token = await session_start(run, instance, index)
        active = True
        run.active += 1
        run.peak_active = max(run.peak_active, run.active)
        begun = await run.call(instance, "POST", "/api/participant/session/begin/", "begin", token=token)
        if begun.status not in (200, 409):  # 409: a retried begin whose first response was lost
            raise GaveUp(f"begin answered {begun.status}")
        while True:
            current = await run.call(instance, "GET", "/api/participant/question/", "current question", token=token)
            if current.status == 204:
                break
            if current.status != 200:
                raise GaveUp(f"current question answered {current.status}: {current.body}")
            await fetch_images(run, instance, token, current.body)
            await answer_question(run, instance, token, current.body)
        run.finished += 1
    except GaveUp as error:
        run.gave_up.append(f"participant {index}: {error}")
    finally:
        run.active -= active
