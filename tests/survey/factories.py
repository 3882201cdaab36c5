"""Factories for survey tests. Portraits made here have no file behind them unless a test stores one."""

from __future__ import annotations

import hashlib
import itertools

import factory

from survey.models import Disorder, Invite, Portrait, Study

_counter = itertools.count()


class DisorderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Disorder
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"phx{n}")
    name = factory.LazyAttribute(lambda d: f"Phantom syndrome {d.code.upper()}")


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"study-{n}")
    title = factory.LazyAttribute(lambda s: f"Study {s.slug}")
    consent_text = "You agree to take part in a test study."
    # Tests of other rules answer at the instant a question is shown, and start on a timed question:
    # the arming delay and the practice questions have tests of their own that set them.
    arming_delay_ms = 0
    with_practice = False

    @factory.post_generation
    def disorders(self, create, extracted, **kwargs):
        if create and extracted:
            self.disorders.set(extracted)


def _fake_hash() -> str:
    return hashlib.sha256(f"portrait-{next(_counter)}".encode()).hexdigest()


class PortraitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Portrait

    study = factory.SubFactory(StudyFactory)
    kind = "synthetic"
    disorder = factory.SubFactory(DisorderFactory)
    content_hash = factory.LazyFunction(_fake_hash)
    width = 256
    height = 256
    byte_size = 1000
    used_in_training = factory.LazyAttribute(lambda p: False if p.kind == "real" else None)


class InviteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invite

    study = factory.SubFactory(StudyFactory)


def make_bank(
    study: Study,
    disorders: list[Disorder],
    *,
    training: int = 6,
    held_out: int = 6,
    synthetic: int = 12,
    averages: int = 1,
) -> None:
    """A bank large enough for default sessions: every kind for every disorder."""
    rows = []
    for disorder in disorders:
        rows += [dict(kind="real", used_in_training=True)] * training
        rows += [dict(kind="real", used_in_training=False)] * held_out
        rows += [dict(kind="synthetic", used_in_training=None)] * synthetic
        rows += [dict(kind="latent_average", used_in_training=None)] * averages
        Portrait.objects.bulk_create(
            Portrait(
                study=study, disorder=disorder, content_hash=_fake_hash(), width=256, height=256, byte_size=1000, **row
            )
            for row in rows
        )
        rows = []
