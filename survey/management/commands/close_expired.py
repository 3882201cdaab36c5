"""manage.py close_expired [SLUG]: record abandoned questions as timeouts and fail the background jobs whose
worker was lost (run it periodically, e.g. cron)."""

from django.core.management.base import BaseCommand

from survey import jobs, services
from survey.management.study_lookup import study_by_slug
from survey.models import Study


class Command(BaseCommand):
    help = (
        "Record as timeouts the served, unanswered questions whose deadline and grace have passed (abandoned "
        "sessions), in one study or in all. Run it periodically (e.g. every few minutes from cron). Pages and "
        "exports already count these questions as timeouts without writing; this makes the record match. "
        "It also marks failed the background jobs whose worker stopped reporting (SURVEY_JOB_SILENT_AFTER_S)."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", nargs="?", help="Slug of the study (default: every study).")

    def handle(self, *args, study: str | None = None, **options):
        studies = [study_by_slug(study)] if study else list(Study.objects.order_by("slug"))
        total = 0
        for target in studies:
            recorded = services.study_expire_overdue(study=target)
            total += recorded
            if recorded:
                self.stdout.write(f"{target.slug}: recorded {recorded} overdue question(s) as timeouts.")
        lost = sum(jobs.fail_lost_jobs(study=target) for target in studies)
        if lost:
            self.stdout.write(f"Marked {lost} background job(s) failed: their worker stopped reporting.")
        self.stdout.write(self.style.SUCCESS(f"Closed {total} overdue question(s) in {len(studies)} study(ies)."))
