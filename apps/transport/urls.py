from django.urls import path

from apps.transport import views

urlpatterns = [
    path("dns-query", views.dns_query, name="dns-query"),
]
