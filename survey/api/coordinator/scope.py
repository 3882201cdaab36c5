"""What every view under /api/studies/<slug>/ shares: staff only, the study the coordinator may manage,
its own rows, and paginated lists."""

from __future__ import annotations

from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from survey.access import coordinated_study
from survey.api.auth import IsStaff
from survey.models import Study


class StudyScoped(GenericAPIView):
    permission_classes = [IsStaff]

    def study(self) -> Study:
        return coordinated_study(self.request.user, self.kwargs["slug"])

    def get_queryset(self):
        """The study's own rows of the serializer's model, else the study itself (the browsable API asks)."""
        if getattr(self, "swagger_fake_view", False):
            return Study.objects.none()
        model = getattr(getattr(self.serializer_class, "Meta", None), "model", None)
        if model is not None and model is not Study:
            return model.objects.filter(study=self.study())
        return Study.objects.filter(pk=self.study().pk)

    def paginated(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)
