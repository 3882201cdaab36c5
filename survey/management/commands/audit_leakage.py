"""manage.py audit_leakage STUDY"""

import json as json_module

from django.core.management.base import BaseCommand, CommandError

from survey.leakage import audit_study
from survey.management.study_lookup import study_by_slug


class Command(BaseCommand):
    help = (
        "Compare real, synthetic and latent-average portraits as delivered to the browser (dimensions, format, "
        "mode, metadata, headers, URL shape, byte sizes) and report every difference. Exits with status 1 if any."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="Slug of the study.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, study: str, **options):
        target = study_by_slug(study)
        report = audit_study(target)
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
            self.stdout.write(f"  byte sizes of {kind}: median {summary['median']:.0f}, "
                              f"range {summary['min']:.0f}-{summary['max']:.0f} (n={summary['n']:.0f})")
        if report.byte_size_test:
            self.stdout.write(f"  real vs synthetic byte sizes: Mann-Whitney U p = {report.byte_size_test['p_value']:.3g}")
        for line in report.differences:
            self.stdout.write(self.style.WARNING(f"  DIFFERENCE: {line}"))
        if report.clean:
            self.stdout.write(self.style.SUCCESS("No difference between kinds beyond the pixels."))


def _dumps(report) -> str:
    from dataclasses import asdict

    return json_module.dumps(asdict(report), indent=2, default=str)
