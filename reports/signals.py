"""Keep the materialised results, and the report figures cached from them, in step with
changes that no refresh task hears about."""

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver

from reports import materialise
from reports.models import Release
from runs.models import ModelEndpoint, Run


@receiver(post_delete, sender=Run, dispatch_uid="reports_refresh_after_run_delete")
def refresh_after_run_delete(sender, instance: Run, **kwargs) -> None:
    """A deleted run leaves pooled rows behind: rebuild its model's rows on its suite from
    the runs that remain, once the deletion commits (one model on one suite: quick)."""
    endpoint_id, suite_id = instance.endpoint_id, instance.suite_id
    transaction.on_commit(lambda: materialise.refresh_model_suite(endpoint_id, suite_id))


@receiver(post_save, sender=ModelEndpoint, dispatch_uid="reports_stale_after_model_edit")
def invalidate_after_model_edit(sender, instance: ModelEndpoint, created: bool, **kwargs) -> None:
    """Reports read a model's release date and family live, but cache whole figures: an
    edited model makes them stale. A new model has no results yet."""
    if not created:
        transaction.on_commit(materialise.invalidate_cached_reports)


@receiver(
    m2m_changed, sender=Release.endpoints.through, dispatch_uid="reports_release_models_fixed"
)
def refuse_changing_an_approved_releases_models(
    sender, instance, action: str, reverse: bool, pk_set: set | None, **kwargs
) -> None:
    """The models of an approved release are part of what was approved, whichever side the
    change comes from (release.endpoints or endpoint.releases)."""
    if not action.startswith("pre_"):
        return
    if reverse:
        touched = Release.objects.filter(pk__in=pk_set) if pk_set else instance.releases.all()
    else:
        touched = Release.objects.filter(pk=instance.pk)
    if touched.filter(status=Release.Status.APPROVED).exists():
        raise ValueError("The models of an approved release cannot change.")


@receiver(pre_delete, sender=ModelEndpoint, dispatch_uid="reports_released_model_kept")
def refuse_deleting_a_released_model(sender, instance: ModelEndpoint, **kwargs) -> None:
    """Deleting a model would drop it from approved releases through the cascade, which no
    m2m_changed signal reports."""
    if instance.releases.filter(status=Release.Status.APPROVED).exists():
        raise ValueError(f"{instance} is part of an approved release and cannot be deleted.")
