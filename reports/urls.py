from django.urls import path

from reports import release_views, views

app_name = "reports"

urlpatterns = [
    path("", views.home, name="home"),
    path("categories/<int:pk>/", views.job_category, name="job_category"),
    path("occupations/<int:pk>/", views.occupation, name="occupation"),
    path("coverage/statements/", views.statement_coverage, name="statement_coverage"),
    path("results/models/<slug:slug>/", views.model, name="model"),
    path("results/compare/", views.compare, name="compare"),
    path("releases/", release_views.release_list, name="release_list"),
    path("releases/new/", release_views.release_new, name="release_new"),
    path("releases/<slug:identifier>/", release_views.release_detail, name="release"),
    path(
        "releases/<slug:identifier>/approve/", release_views.release_approve, name="release_approve"
    ),
    path(
        "releases/<slug:identifier>/correct/", release_views.release_correct, name="release_correct"
    ),
    path(
        "releases/<slug:identifier>/discard/", release_views.release_discard, name="release_discard"
    ),
    path(
        "releases/<slug:identifier>/download/<slug:fmt>/",
        release_views.release_download,
        name="release_download",
    ),
]
