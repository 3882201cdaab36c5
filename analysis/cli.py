"""Command line: ``python -m analysis report ...`` and ``python -m analysis power ...``."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from .bootstrap import DEFAULT_BOOTSTRAP_SEED
from .equivalence_power import DEFAULT_MARGIN, plan_equivalence
from .errors import ExportError
from .export import load_export
from .options import load_options
from .power import DEFAULT_PLANNING_ICC, plan_study
from .report import build_report
from .report_markdown import render_markdown
from .timing import DEFAULT_GRACE_MS, DEFAULT_MIN_RESPONSE_MS, implausible_times

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis", description="Hypothesis tests of an expert-survey export."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="run every test on a tidy export")
    rep.add_argument("export", type=Path, help="tidy export: CSV (any delimiter, UTF-8 or Latin-1), XLSX or JSON")
    rep.add_argument(
        "--options",
        type=Path,
        default=None,
        help="the same export's options table (options.csv/.xlsx/.json): adds per-portrait re-identification rates",
    )
    rep.add_argument("--json", required=True, type=Path, help="where to write the JSON results")
    rep.add_argument(
        "--out-dir", type=Path, default=None, help="folder for the Markdown report and figures (default: beside --json)"
    )
    rep.add_argument(
        "--margin",
        type=float,
        default=None,
        help=f"equivalence margin, real vs synthetic diagnosis (default "
        f"{DEFAULT_MARGIN}; see docs/statistics.md for why)",
    )
    rep.add_argument("--alpha", type=float, default=0.05, help="level of every test")
    rep.add_argument("--study", default=None, help="analyse only this study of the export")
    rep.add_argument("--no-figures", action="store_true", help="skip the figures")
    rep.add_argument(
        "--min-response-ms",
        type=float,
        default=DEFAULT_MIN_RESPONSE_MS,
        help=f"flag answers faster than this (default {DEFAULT_MIN_RESPONSE_MS:g})",
    )
    rep.add_argument(
        "--grace-ms",
        type=float,
        default=DEFAULT_GRACE_MS,
        help=f"the study's grace: flag answers later than limit + grace (default "
        f"{DEFAULT_GRACE_MS:g}, the platform's default)",
    )
    rep.add_argument(
        "--seed", type=int, default=DEFAULT_BOOTSTRAP_SEED, help="seed of the participant bootstrap and sign-flip test"
    )
    pw = sub.add_parser(
        "power",
        help="answers and participants needed per category, or for "
        "the real-vs-synthetic equivalence test (--equivalence)",
    )
    pw.add_argument("--equivalence", action="store_true", help="plan the TOST of real vs synthetic diagnostic accuracy")
    pw.add_argument("--chance", type=float, help="1 / n_options, e.g. 0.25")
    pw.add_argument("--excess", type=float, help="accuracy above chance to detect, e.g. 0.05")
    pw.add_argument("--accuracy", type=float, help="--equivalence: expected accuracy on real portraits, e.g. 0.48")
    pw.add_argument(
        "--difference",
        type=float,
        default=0.0,
        help="--equivalence: assumed true difference real - synthetic (default 0)",
    )
    pw.add_argument(
        "--margin", type=float, default=DEFAULT_MARGIN, help=f"--equivalence: margin (default {DEFAULT_MARGIN})"
    )
    pw.add_argument("--power", type=float, default=0.80)
    pw.add_argument("--alpha", type=float, default=0.05)
    pw.add_argument(
        "--questions",
        type=int,
        default=None,
        help="questions of the category per participant (default 10; with --equivalence: of one kind, default 5)",
    )
    pw.add_argument(
        "--icc",
        type=float,
        default=DEFAULT_PLANNING_ICC,
        help=f"within-participant correlation for the design effect (default "
        f"{DEFAULT_PLANNING_ICC}, the upper half of what studies show)",
    )
    pw.add_argument(
        "--answer-rate",
        type=float,
        default=1.0,
        help="share of questions answered, not skipped/timed out (paper: 0.862)",
    )
    pw.add_argument("--alternative", choices=("two-sided", "greater"), default="two-sided")
    pw.add_argument("--json", type=Path, default=None, help="also write the plan as JSON")
    return parser


#: Every figure is written as a PNG (for the Markdown report) and as vector SVG and PDF
#: (for a journal).
FIGURE_FORMATS = ("png", "svg", "pdf")


def _write_atomically(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _version() -> str:
    """The platform's version: installed metadata, else pyproject.toml beside the package."""
    from importlib import metadata

    try:
        return metadata.version("gestalt-survey-platform")
    except metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        import tomllib

        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, ValueError):
        return "unknown"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(export: Path, argv: list[str] | None) -> dict[str, str]:
    """Package version, SHA-256 of the input, the command line and the date (UTC)."""
    words = ["python", "-m", "analysis", *(sys.argv[1:] if argv is None else argv)]
    return {
        "version": _version(),
        "input_sha256": _sha256(export),
        "command": shlex.join(words),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def run_report(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    df = load_export(args.export)
    note = df.attrs.get("read_note", "")
    if note:
        print(f"note: {note}", file=sys.stderr)
    if args.study is not None:
        df = df[df["study"] == args.study]
        if df.empty:
            raise ExportError(f"no rows of study {args.study!r}", column="study", source=str(args.export))
    options = None
    if args.options is not None:
        options = load_options(args.options)
        if options.attrs.get("read_note"):
            print(f"note: {options.attrs['read_note']}", file=sys.stderr)
    margin = DEFAULT_MARGIN if args.margin is None else args.margin
    source = None if args.margin is None else f"--margin {args.margin:g}, given on the command line"
    report = build_report(
        df,
        margin=margin,
        alpha=args.alpha,
        margin_source=source,
        min_response_ms=args.min_response_ms,
        grace_ms=args.grace_ms,
        seed=args.seed,
        options=options,
    )
    report["provenance"] = provenance(args.export, argv)
    if options is not None:
        report["provenance"]["options_sha256"] = _sha256(args.options)
    if note:
        report["provenance"]["read_note"] = note
    out_dir = args.out_dir or args.json.parent
    stem = args.json.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    # Everything is rendered in a scratch folder first, then moved into place, so a
    # failure halfway leaves no partial report behind.
    scratch = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{stem}."))
    try:
        figures = {}
        if not args.no_figures:
            from .figures import accuracy_figure, response_time_figure

            for suffix in FIGURE_FORMATS:
                accuracy_figure(report, scratch / f"{stem}_accuracy.{suffix}")
                response_time_figure(report, scratch / f"{stem}_response_times.{suffix}")
            figures = {"accuracy": f"{stem}_accuracy.png", "response times": f"{stem}_response_times.png"}
        from .tables import report_tables

        flagged = implausible_times(df, args.min_response_ms, args.grace_ms).flags
        for name, table in report_tables(report, flagged).items():
            table.to_csv(scratch / f"{stem}_{name}.csv", index=False)
        (scratch / f"{stem}.md").write_text(render_markdown(report, figures), encoding="utf-8")
        text = json.dumps(report, indent=2, allow_nan=False)
        for produced in sorted(scratch.iterdir()):
            os.replace(produced, out_dir / produced.name)
        _write_atomically(args.json, text + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    p1 = report["categories"]
    summary = "\n".join(
        f"{c}: {100 * e['accuracy']:.1f}% vs chance {100 * e['chance']:.1f}%, p = {e['binomial']['p_value']:.3g}"
        if e["binomial"]["p_value"] is not None
        else f"{c}: not tested"
        for c, e in p1.items()
    )
    print(summary)
    print(f"wrote {args.json} and {out_dir / (stem + '.md')}")
    return 0


def run_power(args: argparse.Namespace) -> int:
    if args.equivalence:
        return run_equivalence_power(args)
    if args.chance is None or args.excess is None:
        raise ValueError("power needs --chance and --excess (or --equivalence with --accuracy)")
    args.questions = 10 if args.questions is None else args.questions
    plan = plan_study(
        args.excess,
        args.chance,
        power=args.power,
        alpha=args.alpha,
        questions_per_participant=args.questions,
        icc=args.icc,
        answer_rate=args.answer_rate,
        alternative=args.alternative,
    )
    print(
        f"To detect {100 * plan.accuracy:.1f}% accuracy against chance "
        f"{100 * plan.chance:.1f}% ({args.alternative}, alpha {plan.alpha}, power "
        f"{plan.power}):"
    )
    print(f"  exact binomial test:        {plan.answers_exact} answers (power {plan.achieved_power:.3f})")
    print(
        f"  with clustering (ICC {plan.icc}, {plan.questions_per_participant} per participant,"
        f" design effect {plan.design_effect:.2f}): {plan.answers_clustered} answers"
    )
    print(
        f"  at answer rate {plan.answer_rate}: {plan.questions_presented} questions presented"
        f" = {plan.participants} participants x {plan.questions_per_participant} questions"
    )
    if args.json:
        _write_atomically(args.json, json.dumps(plan.to_dict(), indent=2) + "\n")
    return 0


def run_equivalence_power(args: argparse.Namespace) -> int:
    if args.accuracy is None:
        raise ValueError("power --equivalence needs --accuracy (expected accuracy on real portraits, e.g. 0.48)")
    plan = plan_equivalence(
        args.accuracy,
        margin=args.margin,
        difference=args.difference,
        power=args.power,
        alpha=args.alpha,
        questions_per_participant=args.questions or 5,
        icc=args.icc,
        answer_rate=args.answer_rate,
    )
    print(
        f"To show real ({100 * plan.accuracy_real:.1f}%) and synthetic "
        f"({100 * plan.accuracy_synthetic:.1f}%) diagnostic accuracy equivalent within "
        f"±{100 * plan.margin:g} points (TOST, alpha {plan.alpha} per side, power "
        f"{plan.power}):"
    )
    print(f"  independent answers:        {plan.answers_per_kind} per kind (power {plan.achieved_power:.3f})")
    print(
        f"  with clustering (ICC {plan.icc}, {plan.questions_per_participant} per kind per "
        f"participant, design effect {plan.design_effect:.2f}): "
        f"{plan.answers_per_kind_clustered} per kind"
    )
    print(
        f"  at answer rate {plan.answer_rate}: {plan.questions_presented} diagnosis "
        f"questions presented = {plan.participants} participants x "
        f"{2 * plan.questions_per_participant} questions"
    )
    if args.json:
        _write_atomically(args.json, json.dumps(plan.to_dict(), indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run_report(args, argv) if args.command == "report" else run_power(args)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
