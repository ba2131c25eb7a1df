from django.urls import path

from interop import eval_log_views, views

app_name = "interop"

urlpatterns = [
    path("suites/<slug:slug>/export/<str:format>/", views.export_suite, name="export_suite"),
    path("tasks/import/formats/", views.import_tasks, name="import_tasks"),
    path("runs/import/", eval_log_views.import_eval_log, name="import_eval_log"),
]
