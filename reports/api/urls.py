from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from reports.api import views

app_name = "api"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="api:docs"), name="index"),
    path("releases/", views.ReleaseList.as_view(), name="releases"),
    path("releases/<slug:identifier>/", views.ReleaseDetail.as_view(), name="release"),
    path(
        "releases/<slug:identifier>/tables/<slug:table_id>/",
        views.ReleaseTable.as_view(),
        name="release_table",
    ),
    path("national/", views.National.as_view(), name="national"),
    path("categories/<int:pk>/", views.CategoryDetail.as_view(), name="category"),
    path("models/", views.ModelList.as_view(), name="models"),
    path("models/<slug:slug>/", views.ModelDetail.as_view(), name="model"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The page loads its start-up script from the same address (?script), not inline; its
    # template still sets a few page styles in a <style> element, so this page alone allows
    # inline styles. Scripts stay as strict as everywhere else.
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
]
