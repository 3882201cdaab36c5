"""The coordinator API: staff tokens, per-study permission, and the same services as the admin and commands.

Every JSON body is its output serializer's `.data`, the serializer the schema names; the services' refusals
are answered by survey/api/errors.py.

One module per resource: studies.py (studies, disorders, progress, readiness), portraits.py (the image
bank), invites.py, exports.py, jobs.py and participants.py; scope.py holds what every view of one study
shares. The views survey/api/urls.py mounts are importable from here.
"""

from survey.api.coordinator.exports import Export
from survey.api.coordinator.invites import InviteRevoke, Invites
from survey.api.coordinator.jobs import StudyJob, StudyJobDownload
from survey.api.coordinator.participants import ParticipantEnd, ParticipantErase
from survey.api.coordinator.portraits import Portraits
from survey.api.coordinator.studies import DisorderViewSet, StudyViewSet

__all__ = [
    "DisorderViewSet",
    "Export",
    "InviteRevoke",
    "Invites",
    "ParticipantEnd",
    "ParticipantErase",
    "Portraits",
    "StudyJob",
    "StudyJobDownload",
    "StudyViewSet",
]
