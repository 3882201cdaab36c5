"""Top-level URL map: the participant flow at the root, the coordinators' admin under /admin/."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("survey.urls")),
]
