from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        # Register the Celery tasks in every process, not only in workers, so that tasks
        # sent by name (reports.tasks.refresh_run_results) run eagerly in tests too; and the
        # signal receivers that refresh results when a run is deleted.
        from reports import signals, tasks  # noqa: F401
