"""The one way management commands find the study they were given."""

from django.core.management.base import CommandError

from survey.models import Study


def study_by_slug(slug: str) -> Study:
    try:
        return Study.objects.get(slug=slug)
    except Study.DoesNotExist:
        known = ", ".join(Study.objects.values_list("slug", flat=True)[:10]) or "none yet"
        raise CommandError(f"No study with slug {slug!r} (studies: {known}). Create it in the admin first.") from None
