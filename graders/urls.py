from django.urls import path

from graders import expert_views, grader_views, validation_views, views

app_name = "graders"

urlpatterns = [
    path("runs/", views.run_list, name="run_list"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("tasks/<slug:slug>/calibrate/", views.calibrate_task, name="calibrate"),
    # Graders, their versions and regrading.
    path("graders/", grader_views.grader_list, name="grader_list"),
    path("graders/new/", grader_views.grader_create, name="grader_create"),
    path("graders/<int:pk>/", grader_views.grader_detail, name="grader"),
    path("graders/<int:pk>/new-version/", grader_views.grader_new_version, name="new_version"),
    path("graders/<int:pk>/regrade/", grader_views.regrade, name="regrade"),
    # Validation against experts.
    path("graders/<int:pk>/validation/", validation_views.validation, name="validation"),
    path(
        "graders/<int:pk>/validation.csv",
        validation_views.validation_export,
        name="validation_export",
    ),
    # Blind expert grading.
    path("grading/", expert_views.queue_list, name="expert_queues"),
    path("grading/<int:pk>/next/", expert_views.next_sample, name="expert_next"),
    path("grading/items/<int:item>/", expert_views.grade_item, name="expert_grade"),
    path("grading/<int:pk>/add/", expert_views.enqueue, name="expert_enqueue"),
    path("grading/<int:pk>/disagreements/", expert_views.disagreements, name="disagreements"),
    path(
        "grading/<int:pk>/disagreements/<int:sample>/",
        expert_views.reconcile,
        name="reconcile",
    ),
]
