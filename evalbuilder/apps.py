from django.apps import AppConfig


class EvalbuilderConfig(AppConfig):
    name = "evalbuilder"
    verbose_name = "evalbuilder"

    def ready(self) -> None:
        # Connects the sign-in receivers (session clock, clearing failed attempts).
        from evalbuilder import mfa, middleware  # noqa: F401
