from django.urls import path

from runs import views

app_name = "runs"

# The run list and run pages (/runs/, /runs/<pk>/) are graders' pages: they show grades.
urlpatterns = [
    path("models/", views.model_list, name="models"),
    path("models/new/", views.model_new, name="new_model"),
    path("models/<slug:slug>/edit/", views.model_edit, name="edit_model"),
    path("schedules/", views.schedule_list, name="schedules"),
    path("schedules/new/", views.schedule_new, name="new_schedule"),
    path("schedules/<int:pk>/edit/", views.schedule_edit, name="edit_schedule"),
    path("schedules/<int:pk>/run-now/", views.schedule_run_now, name="run_schedule"),
    path("runs/new/", views.run_new, name="new_run"),
    path("runs/<int:pk>/pause/", views.run_pause, name="pause"),
    path("runs/<int:pk>/resume/", views.run_resume, name="resume"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="cancel"),
    path("runs/<int:pk>/progress.json", views.run_progress_json, name="progress"),
]
