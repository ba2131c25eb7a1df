from django.urls import path

from graders import views

app_name = "graders"

urlpatterns = [
    path("", views.run_list, name="run_list"),
    path("<int:pk>/", views.run_detail, name="run"),
]
