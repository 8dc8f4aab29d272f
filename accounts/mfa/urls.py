from __future__ import annotations

from django.urls import path

from accounts.mfa import views

app_name = "mfa"
urlpatterns = [
    path("two-factor/", views.verify, name="verify"),
    path("security/", views.security, name="security"),
    path("security/add/", views.add, name="add"),
    path("security/confirm/", views.confirm, name="confirm"),
    path("security/cancel/", views.cancel, name="cancel"),
    path("security/authenticators/<int:pk>/remove/", views.remove, name="remove"),
    path("security/recovery-codes/", views.recovery_codes, name="recovery_codes"),
]
