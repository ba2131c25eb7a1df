from django.apps import AppConfig


class GradersConfig(AppConfig):
    name = "graders"
    verbose_name = "Grading"

    def ready(self) -> None:
        # Register the Celery tasks in every process, not only in workers, so that tasks
        # sent by name run in-process when CELERY_TASK_ALWAYS_EAGER is set.
        from graders import tasks  # noqa: F401
