"""manage.py import_images FOLDER --manifest manifest.csv --study SLUG"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from survey.image_bank import ImportRejected, bank_import
from survey.management.study_lookup import study_by_slug


class Command(BaseCommand):
    help = (
        "Import portraits listed in a manifest CSV (columns filename, disorder, kind; optional used_in_training, "
        "source, checkpoint_id, seed, truncation) into a study's image bank. Every row and file is checked first; "
        "one problem means nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="Folder the manifest's file names are relative to.")
        parser.add_argument("--manifest", type=Path, required=True)
        parser.add_argument("--study", required=True, help="Slug of the study whose bank receives the portraits.")

    def handle(self, *args, folder: Path, manifest: Path, study: str, **options):
        folder, manifest = Path(folder), Path(manifest)  # call_command passes keyword options unconverted
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        if not manifest.is_file():
            raise CommandError(f"Manifest {manifest} does not exist.")
        target = study_by_slug(study)
        try:
            portraits = bank_import(study=target, folder=folder, manifest=manifest)
        except ImportRejected as rejected:
            raise CommandError(str(rejected)) from None
        self.stdout.write(self.style.SUCCESS(f"Imported {len(portraits)} portrait(s) into {target.slug}."))
