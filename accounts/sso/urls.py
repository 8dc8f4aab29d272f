"""/login/oidc/…: the single sign-on routes (included by dashboard/urls.py under "login/oidc/")."""

from __future__ import annotations

from django.urls import path

from accounts.sso import views

app_name = "sso"

urlpatterns = [
    path("", views.start, name="start"),
    path("callback/", views.callback, name="callback"),
    path("no-role/", views.no_role, name="no_role"),
]
