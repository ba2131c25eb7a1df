from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.home, name="home"),
    path("categories/<int:pk>/", views.job_category, name="job_category"),
    path("occupations/<int:pk>/", views.occupation, name="occupation"),
    path("results/models/<slug:slug>/", views.model, name="model"),
    path("results/compare/", views.compare, name="compare"),
]
