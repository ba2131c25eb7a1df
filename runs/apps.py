from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Model runs"

    def ready(self) -> None:
        # Register the Celery tasks in every process, not only in workers, so that tasks
        # sent by name run in-process when CELERY_TASK_ALWAYS_EAGER is set.
        from runs import tasks  # noqa: F401
