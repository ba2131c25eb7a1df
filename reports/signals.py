"""Keep the materialised results, and the report figures cached from them, in step with
changes that no refresh task hears about."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from reports import materialise
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
