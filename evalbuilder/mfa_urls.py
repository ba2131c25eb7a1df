"""Two-step sign-in, under /accounts/mfa/ (namespace "mfa")."""

from django.urls import path

from evalbuilder import mfa_views

app_name = "mfa"
urlpatterns = [
    path("", mfa_views.manage, name="manage"),
    path("verify/", mfa_views.verify, name="verify"),
    path("setup/", mfa_views.setup, name="setup"),
    path("recovery-codes/", mfa_views.regenerate_codes, name="recovery_codes"),
    path("remove/", mfa_views.remove, name="remove"),
]
