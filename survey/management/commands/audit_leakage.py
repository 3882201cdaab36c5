"""manage.py audit_leakage STUDY"""

import json as json_module

from django.core.management.base import BaseCommand, CommandError

from survey.management.commands._leakage import audit_study
from survey.management.study_lookup import study_by_slug


class Command(BaseCommand):
    help = (
        "Compare real, synthetic and latent-average portraits as delivered to the browser (dimensions, format, "
        "mode, metadata, headers, URL shape, byte sizes) and report every difference. Exits with status 1 if any. "
        "Also reports, as a warning that never fails the audit, how well cheap pixel statistics (sharpness, colour "
        "moments, JPEG length) tell real from synthetic portraits: leave-one-out AUC and per-statistic pick rates."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="Slug of the study.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument(
            "--no-pixels",
            action="store_true",
            help="Skip the pixel-statistics realism measure (byte-level checks only).",
        )

    def handle(self, *args, study: str, **options):
        target = study_by_slug(study)
        report = audit_study(target, with_pixels=not options["no_pixels"])
        if options["json"]:
            self.stdout.write(_dumps(report))
        else:
            self._print(report)
        if not report.clean:
            raise CommandError(f"{len(report.differences)} difference(s) found between kinds.", returncode=1)

    def _print(self, report) -> None:
        counts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items())
        self.stdout.write(f"Audited study {report.study}: {counts}.")
        for kind, summary in report.byte_sizes.items():
            self.stdout.write(
                f"  byte sizes of {kind}: median {summary['median']:.0f}, "
                f"range {summary['min']:.0f}-{summary['max']:.0f} (n={summary['n']:.0f})"
            )
        if report.byte_size_test:
            self.stdout.write(
                f"  real vs synthetic byte sizes: Mann-Whitney U p = {report.byte_size_test['p_value']:.3g}"
            )
        for line in report.differences:
            self.stdout.write(self.style.WARNING(f"  DIFFERENCE: {line}"))
        for line in report.warnings:
            # The pixels are the study's subject: reported so a coordinator can judge, never a failure.
            self.stdout.write(self.style.WARNING(f"  WARNING (pixels; not a failure): {line}"))
        if report.realism:
            rows = sorted(report.realism["statistics"], key=lambda r: -r["pick_rate"])
            self.stdout.write("    statistic            AUC alone  picks real  rule")
            for row in rows:
                self.stdout.write(
                    f"    {row['name']:<20} {row['auc_alone']:>9.3f} {row['pick_rate']:>10.1%}  {row['pick_rule']}"
                )
        if report.clean:
            self.stdout.write(self.style.SUCCESS("No difference between kinds beyond the pixels."))


def _dumps(report) -> str:
    from dataclasses import asdict

    return json_module.dumps(asdict(report), indent=2, default=str)
