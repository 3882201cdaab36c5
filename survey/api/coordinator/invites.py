"""A study's invites: list them, issue more, revoke one."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from survey import services
from survey.api.coordinator.scope import StudyScoped
from survey.api.errors import ReadinessOut, documented
from survey.models import Invite

MAX_INVITES_PER_CALL = 1000


class InviteSerializer(serializers.ModelSerializer):
    link = serializers.SerializerMethodField()
    sessions = serializers.SerializerMethodField()

    class Meta:
        model = Invite
        fields = ["id", "token", "link", "label", "reusable", "expires_at", "revoked_at", "created_at", "sessions"]
        read_only_fields = fields

    def get_sessions(self, invite: Invite) -> int:
        annotated = getattr(invite, "n_sessions", None)  # lists annotate; one invite counts
        return annotated if annotated is not None else invite.sessions.count()

    def get_link(self, invite: Invite) -> str:
        return settings.SITE_URL + reverse("survey:invite", args=[invite.token])


class InvitesIn(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=MAX_INVITES_PER_CALL, default=1)
    reusable = serializers.BooleanField(default=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise ValidationError("The expiry must lie in the future.")
        return value


class Invites(StudyScoped):
    serializer_class = InviteSerializer

    @extend_schema(responses=documented({200: InviteSerializer(many=True)}, 401, 403, 404))
    def get(self, request, slug: str):
        invites = self.study().invites.annotate(n_sessions=Count("sessions")).order_by("-created_at", "-id")
        return self.paginated(invites, InviteSerializer)

    @extend_schema(
        request=InvitesIn,
        responses=documented(
            {
                201: InviteSerializer(many=True),
                409: OpenApiResponse(
                    ReadinessOut, description="The study cannot start a session yet: `problems` says what is missing."
                ),
            },
            400,
            401,
            403,
            404,
        ),
    )
    def post(self, request, slug: str):
        """Issue invites; refused (409, with the problems) while the study cannot start a session."""
        study = self.study()
        data = InvitesIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        invites = services.invites_issue(
            study=study,
            count=values["count"],
            label=values["label"],
            reusable=values["reusable"],
            expires_at=values.get("expires_at"),
        )
        return Response(InviteSerializer(invites, many=True).data, status=status.HTTP_201_CREATED)


class RevokeIn(serializers.Serializer):
    end_sessions = serializers.BooleanField(
        default=False, help_text="Also end the running sessions started from this link."
    )


class InviteRevoke(StudyScoped):
    serializer_class = InviteSerializer

    @extend_schema(request=RevokeIn, responses=documented({200: InviteSerializer}, 400, 401, 403, 404))
    def post(self, request, slug: str, invite_id: int):
        invite = get_object_or_404(Invite, pk=invite_id, study=self.study())
        data = RevokeIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.invite_revoke(invite=invite, end_sessions=data.validated_data["end_sessions"])
        invite.refresh_from_db()
        return Response(InviteSerializer(invite).data)
