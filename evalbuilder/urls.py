from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("reports.urls")),
    path("", include("occupations.urls")),
    path("", include("runs.urls")),
    path("", include("graders.urls")),
    path("", include("interop.urls")),
    path("api/", include("reports.api.urls")),
    path("audit/", include("audit.urls")),
    path("accounts/mfa/", include("evalbuilder.mfa_urls", namespace="mfa")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
