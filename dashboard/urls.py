from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.sso import views as sso_views

urlpatterns = [
    # Single sign-on (accounts/sso): the login page (password form per LOCAL_PASSWORDS, the
    # provider's button) and /login/oidc/ with its callback.
    path("login/", sso_views.LoginView.as_view(), name="login"),
    path("login/oidc/", include("accounts.sso.urls")),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Two-factor authentication (accounts/mfa): the sign-in's code step and the security page.
    path("account/", include("accounts.mfa.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("dashboard.api.urls")),
    path("reports/", include("reports.urls")),
    path("alerts/", include("alerts.urls")),
    path("", include("dashboard.ops")),
    # The team's pages: overview at "/", accounts, keys, errors.
    path("", include("dashboard.pages.urls")),
]
