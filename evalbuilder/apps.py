from django.apps import AppConfig


class EvalbuilderConfig(AppConfig):
    name = "evalbuilder"
    verbose_name = "evalbuilder"
