"""manage.py export_results STUDY --out DIR"""

from pathlib import Path

from django.core.management.base import BaseCommand

from survey import export, services
from survey.management.study_lookup import study_by_slug

FILES = [
    ("answers", "csv"),
    ("answers", "json"),
    ("answers", "xlsx"),
    ("options", "csv"),
    ("options", "xlsx"),
    ("participants", "csv"),
    ("participants", "xlsx"),
    ("settings", "json"),
]


class Command(BaseCommand):
    help = (
        "Write a study's tidy answers (CSV, JSON, XLSX), options and participants tables and settings file into a "
        "folder; docs/exports.md documents every column."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="Slug of the study.")
        parser.add_argument("--out", type=Path, required=True, help="Folder to write into (created if missing).")

    def handle(self, *args, study: str, out: Path, **options):
        out = Path(out)
        target = study_by_slug(study)
        out.mkdir(parents=True, exist_ok=True)
        expired = services.study_expire_overdue(study=target)
        if expired:
            self.stdout.write(f"Recorded {expired} overdue question(s) of abandoned sessions as timeouts.")
        for table, fmt in FILES:
            path = out / export.file_name(target, table, fmt)
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(export.render(target, table, fmt))
            partial.replace(path)  # never leave half a file under the final name
            self.stdout.write(f"  {path}")
        self.stdout.write(self.style.SUCCESS(f"Exported {target.slug}."))
