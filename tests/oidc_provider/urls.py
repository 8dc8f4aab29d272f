"""The test provider's routes: django-oauth-toolkit under /o/ (issuer http://127.0.0.1:<port>/o),
and a plain login page for its users."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
]
