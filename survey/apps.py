from django.apps import AppConfig


class SurveyConfig(AppConfig):
    name = "survey"
    verbose_name = "Expert survey"
    default_auto_field = "django.db.models.BigAutoField"
