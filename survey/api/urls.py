"""/api/: the participant API, the coordinator API, and the OpenAPI schema with its docs."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from survey.api import coordinator, participant

router = DefaultRouter()
router.register("studies", coordinator.StudyViewSet, basename="study")
router.register("disorders", coordinator.DisorderViewSet, basename="disorder")

participant_urls = [
    path("sessions/", participant.SessionStart.as_view(), name="session-start"),
    path("session/", participant.SessionState.as_view(), name="session"),
    path("session/begin/", participant.SessionBegin.as_view(), name="session-begin"),
    path("session/scores/", participant.Scores.as_view(), name="scores"),
    path("question/", participant.CurrentQuestion.as_view(), name="question"),
    path("questions/<int:question_id>/start/", participant.QuestionStart.as_view(), name="question-start"),
    path("questions/<int:question_id>/answer/", participant.QuestionAnswer.as_view(), name="question-answer"),
    path("questions/<int:question_id>/skip/", participant.QuestionSkip.as_view(), name="question-skip"),
    path("questions/<int:question_id>/expire/", participant.QuestionExpire.as_view(), name="question-expire"),
]

study_urls = [
    re_path(
        r"^export/(?P<table>answers|options|participants|settings)\.(?P<fmt>csv|json|xlsx)$",
        coordinator.Export.as_view(),
        name="study-export",
    ),
    path("jobs/<int:job_id>/", coordinator.StudyJob.as_view(), name="study-job"),
    path("jobs/<int:job_id>/download/", coordinator.StudyJobDownload.as_view(), name="study-job-download"),
    path("portraits/", coordinator.Portraits.as_view(), name="study-portraits"),
    path("invites/", coordinator.Invites.as_view(), name="study-invites"),
    path("invites/<int:invite_id>/revoke/", coordinator.InviteRevoke.as_view(), name="study-invite-revoke"),
    path("participants/<str:participant>/erase/", coordinator.ParticipantErase.as_view(), name="participant-erase"),
    path("participants/<str:participant>/end/", coordinator.ParticipantEnd.as_view(), name="participant-end"),
]

app_name = "api"
urlpatterns = [
    path("participant/", include(participant_urls)),
    path("studies/<slug:slug>/", include(study_urls)),
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]
