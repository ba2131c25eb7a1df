from django.urls import path

from graders import views

app_name = "graders"

urlpatterns = [
    path("runs/", views.run_list, name="run_list"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("tasks/<slug:slug>/calibrate/", views.calibrate_task, name="calibrate"),
]
