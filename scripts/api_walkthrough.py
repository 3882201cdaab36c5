"""A whole study run through the REST API alone, then analysed from its export.

    .venv/bin/python scripts/api_walkthrough.py                      # starts its own throwaway server
    .venv/bin/python scripts/api_walkthrough.py --base-url URL --token KEY   # against a running platform

With no --base-url it makes a temporary SQLite database, a staff account and its API token (set-up, done
with manage.py), and serves the platform on a free local port. Everything after that goes through the API:
create disorders and a study, upload phantom portraits with a manifest, create invites, drive participants
through complete sessions (with skips and timeouts), download the export, and run `python -m analysis
report` on it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import phantoms  # noqa: E402 - importable once the repository root is on sys.path

PYTHON = sys.executable
TIME_LIMIT_MS = 2_000  # short limits so that timeouts happen within seconds
N_DISORDERS = 6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(workdir: Path) -> tuple[str, str, subprocess.Popen]:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "SURVEY_VAR_DIR": str(workdir),
        "DJANGO_SUPERUSER_PASSWORD": "unused-x9",
        "SURVEY_INVITE_RATE": "1000/minute",
    }
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run(manage + ["migrate", "--verbosity", "0"], env=env, check=True)
    subprocess.run(
        manage + ["createsuperuser", "--noinput", "--username", "coordinator", "--email", "c@localhost"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    token = subprocess.run(
        manage + ["drf_create_token", "coordinator"], env=env, check=True, capture_output=True, text=True
    ).stdout.split()[2]
    port = free_port()
    server = subprocess.Popen(
        manage + ["runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(base + "/api/schema/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    return base, token, server


class Api:
    def __init__(self, base: str, authorization: str):
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = authorization

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kwargs) -> requests.Response:
        response = self.http.request(method, self.base + path, timeout=60, **kwargs)
        if response.status_code not in expect:
            raise SystemExit(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response


def build_bank(folder: Path) -> Path:
    """Phantom portraits: per disorder 6 'real' training members, 6 held out, 10 'synthetic' (other phantom
    individuals, labelled as the renderer's) and one average."""
    rows = []
    for disorder in phantoms.DISORDERS[:N_DISORDERS]:
        for individual in range(12):
            name = f"{disorder.code}-real-{individual}.png"
            phantoms.render_portrait(disorder.code, individual, 128).save(folder / name)
            rows.append([name, disorder.code, "real", int(individual < 6), "phantom-renderer", "", ""])
        for seed in range(10):
            name = f"{disorder.code}-synthetic-{seed}.png"
            phantoms.render_portrait(disorder.code, 50_000 + seed, 128).save(folder / name)
            rows.append([name, disorder.code, "synthetic", "", "", "phantom-renderer", 50_000 + seed])
        name = f"{disorder.code}-average.png"
        phantoms.render_portrait(disorder.code, 90_000, 128).save(folder / name)
        rows.append([name, disorder.code, "latent_average", "", "", "phantom-renderer", ""])
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "disorder", "kind", "used_in_training", "source", "checkpoint_id", "seed"])
        writer.writerows(rows)
    return manifest


def run_participant(base: str, invite: str, number: int) -> dict[str, int]:
    start = requests.post(
        base + "/api/participant/sessions/",
        json={
            "invite": invite,
            "consent": True,
            "profession": "clinical_geneticist",
            "years_experience": 3 + number,
        },
        timeout=60,
    )
    start.raise_for_status()
    me = Api(base, f"Bearer {start.json()['token']}")
    me.call("POST", "/api/participant/session/begin/")
    tally = {"answered": 0, "skipped": 0, "timeout": 0}
    n = 0
    while (response := me.call("GET", "/api/participant/question/", expect=(200, 204))).status_code == 200:
        question = response.json()
        qid = question["id"]
        for url in question["stimulus_urls"] + [o["image_url"] for o in question["options"] if o["image_url"]]:
            me.call("GET", url)  # a browser loads every portrait before the reveal
        me.call("POST", f"/api/participant/questions/{qid}/start/")
        time.sleep(question["arming_delay_ms"] / 1000)  # the question accepts answers once it has been seen
        if question["practice"]:  # each category's practice question: answered, never exported
            me.call("POST", f"/api/participant/questions/{qid}/skip/")
            continue
        n += 1
        if n % 11 == 0:  # lets the clock run out, then reports it as the page would
            time.sleep(TIME_LIMIT_MS / 1000 + 0.1)
            outcome = me.call("POST", f"/api/participant/questions/{qid}/expire/").json()["outcome"]
        elif n % 7 == 0:
            outcome = me.call("POST", f"/api/participant/questions/{qid}/skip/").json()["outcome"]
        else:
            choice = question["options"][(n + number) % len(question["options"])]["code"]
            outcome = me.call("POST", f"/api/participant/questions/{qid}/answer/", json={"choice": choice}).json()[
                "outcome"
            ]
        tally[outcome] += 1
    return tally


def walkthrough(base: str, token: str, participants: int, out: Path) -> None:
    api = Api(base, f"Token {token}")
    print(f"Platform at {base}")
    codes = []
    for disorder in phantoms.DISORDERS[:N_DISORDERS]:
        existing = api.call("GET", "/api/disorders/").json()["results"]
        if disorder.code not in {d["code"] for d in existing}:
            api.call(
                "POST",
                "/api/disorders/",
                json={"code": disorder.code, "name": disorder.name, "description": disorder.features},
            )
        codes.append(disorder.code)
    slug = f"walkthrough-{int(time.time())}"
    api.call(
        "POST",
        "/api/studies/",
        json={
            "slug": slug,
            "title": "API walkthrough",
            "consent_text": "A demonstration with phantom portraits.",
            "disorders": codes,
            "time_limit_real_vs_synthetic_ms": TIME_LIMIT_MS,
            "time_limit_reidentification_ms": TIME_LIMIT_MS,
            "time_limit_diagnosis_ms": TIME_LIMIT_MS,
            "grace_ms": 200,
            "load_allowance_ms": 1_000,
        },
    )
    print(f"1. created study {slug} with {len(codes)} disorders")

    with tempfile.TemporaryDirectory() as folder:
        manifest = build_bank(Path(folder))
        names = [row["filename"] for row in csv.DictReader(manifest.open())]
        files = [("files", (name, (Path(folder) / name).read_bytes(), "image/png")) for name in names]
        files.append(("manifest", ("manifest.csv", manifest.read_bytes(), "text/csv")))
        imported = api.call("POST", f"/api/studies/{slug}/portraits/", files=files).json()["imported"]
    print(f"2. uploaded {imported} portraits through the image bank's pipeline")

    invites = api.call(
        "POST", f"/api/studies/{slug}/invites/", json={"count": participants, "label": "walkthrough"}
    ).json()
    print(f"3. created {len(invites)} single-use invites")

    totals = {"answered": 0, "skipped": 0, "timeout": 0}
    for number, invite in enumerate(invites):
        tally = run_participant(base, invite["token"], number)
        totals = {k: totals[k] + tally[k] for k in totals}
        print(f"   participant {number + 1}: {tally}")
    print(f"4. {participants} complete sessions: {totals}")
    progress = api.call("GET", f"/api/studies/{slug}/progress/").json()
    print(f"   progress: {progress}")

    out.mkdir(parents=True, exist_ok=True)
    export_csv = out / f"{slug}-answers.csv"
    export_csv.write_bytes(api.call("GET", f"/api/studies/{slug}/export/answers.csv").content)
    rows = list(csv.DictReader(io.StringIO(export_csv.read_text())))
    print(f"5. downloaded the export: {len(rows)} rows -> {export_csv}")

    report_json = out / f"{slug}-report.json"
    subprocess.run(
        [
            PYTHON,
            "-m",
            "analysis",
            "report",
            str(export_csv),
            "--json",
            str(report_json),
            "--out-dir",
            str(out / "report"),
        ],
        cwd=ROOT,
        check=True,
    )
    report = json.loads(report_json.read_text())
    print("6. python -m analysis report:")
    for category, entry in report["categories"].items():
        binomial = entry.get("binomial") or {}
        print(
            f"   {category:18s} answered {entry['n_answered']:3d}  correct {entry['n_correct']:3d}  "
            f"accuracy {entry['accuracy']:.3f}  chance {entry['chance']:.3f}  p {binomial.get('p_value')}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", help="A running platform; omit to start a throwaway one.")
    parser.add_argument("--token", help="A staff user's API token (with --base-url).")
    parser.add_argument("--participants", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "walkthrough")
    args = parser.parse_args()
    if args.base_url:
        if not args.token:
            parser.error("--base-url needs --token")
        walkthrough(args.base_url.rstrip("/"), args.token, args.participants, args.out)
        return
    with tempfile.TemporaryDirectory() as workdir:
        base, token, server = start_server(Path(workdir))
        try:
            walkthrough(base, token, args.participants, args.out)
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
