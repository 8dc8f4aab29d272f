from __future__ import annotations

from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("", views.report_list, name="list"),
    path("<int:pk>/", views.report_detail, name="detail"),
    path("<int:pk>/email.html", views.report_email, name="email"),
    path("<int:pk>/report.csv", views.report_csv, name="csv"),
    path("schedules/<int:pk>/send/", views.send_now, name="send_now"),
    path("balances-at/", views.balances_at, name="balances_at"),
    path("balances-at/balances.csv", views.balances_at_csv, name="balances_at_csv"),
]
