"""The participant's URLs. Invite and image tokens are opaque; nothing in a URL names a portrait's kind."""

from django.urls import path

from survey import staff_views, views

app_name = "survey"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("i/<str:token>/", views.invite_landing, name="invite"),
    path("quiz/", views.quiz, name="quiz"),
    path("quiz/profile/", views.profile_submit, name="profile"),
    path("quiz/begin/", views.quiz_begin, name="begin"),
    path("quiz/q/<int:question_id>/serve/", views.question_serve, name="serve"),
    path("quiz/q/<int:question_id>/start/", views.question_clock_start, name="clock-start"),
    path("quiz/q/<int:question_id>/answer/", views.answer, name="answer"),
    path("quiz/q/<int:question_id>/expire/", views.expire, name="expire"),
    path("img/<str:token>", views.portrait, name="portrait"),
    path("staff/portrait/<int:portrait_id>", views.bank_image, name="bank-image"),
    path("healthz", views.health, name="health"),
    path("staff/studies/<slug:slug>/dashboard/", views.study_dashboard, name="dashboard"),
    path("staff/studies/<slug:slug>/items/", views.study_items, name="items"),
    path("staff/studies/<slug:slug>/portraits/", views.study_portraits, name="study-portraits"),
    path("staff/studies/<slug:slug>/pool/", staff_views.pool_fill, name="pool-fill"),
    path("staff/studies/<slug:slug>/exports/", staff_views.exports, name="exports"),
    path("staff/studies/<slug:slug>/exports/<str:table>/xlsx/", staff_views.export_prepare, name="export-prepare"),
    path("staff/studies/<slug:slug>/jobs/<int:job_id>/", staff_views.job_status, name="job"),
    path("staff/studies/<slug:slug>/jobs/<int:job_id>/download/", staff_views.job_download, name="job-download"),
]
