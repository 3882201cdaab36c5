"""A coordinator's background jobs (survey/jobs.py queues them, survey/tasks.py runs them)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from survey.models.study import Study


class Job(models.Model):
    """A coordinator's background job: filling the pool from a checkpoint, or building a spreadsheet export.

    `manage.py db_worker` runs it (survey/tasks.py) and writes its state, progress and outcome here; the
    job's page reads this row only. The finished file of an export is kept in the row itself: the database
    is the one thing the web servers and a worker on a GPU machine are sure to share.
    """

    class Kind(models.TextChoices):
        POOL_FILL = "pool_fill", "Fill the pool"
        EXPORT = "export", "Spreadsheet export"
        DASHBOARD = "dashboard", "Dashboard figures"

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    parameters = models.JSONField(default=dict, blank=True)
    steps_done = models.PositiveIntegerField(default=0)
    steps_total = models.PositiveIntegerField(default=0)
    step_note = models.CharField(max_length=200, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    file_data = models.BinaryField(null=True, blank=True, editable=False)
    task_id = models.CharField(max_length=64, blank=True, help_text="The task queue's id for this job.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When the worker last reported on this job (its start or its progress)."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["study", "kind", "-created_at"])]
        constraints = [
            # however many coordinators reload a stale dashboard, one recompute per study waits or runs
            models.UniqueConstraint(
                fields=["study"],
                condition=Q(kind="dashboard", state__in=["queued", "running"]),
                name="one_pending_dashboard_per_study",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.get_state_display()})"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def has_file(self) -> bool:
        """Whether the job built a file to download: a finished export (its page, the API and the
        download views all ask this)."""
        return self.kind == self.Kind.EXPORT and self.state == self.State.DONE

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return round(100 * self.steps_done / self.steps_total) if self.steps_total else 0
