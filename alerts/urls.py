from __future__ import annotations

from django.urls import path

from alerts import views

app_name = "alerts"
urlpatterns = [path("", views.index, name="index")]
