from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.adminpanel.site import admin_site
from talkee import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("v1/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("v1/", include("apps.accounts.api.urls")),
    path("v1/", include("apps.devices.api.urls")),
    path("v1/", include("apps.chats.api.urls")),
    path("v1/", include("apps.messages.api.urls")),
    path("v1/", include("apps.blobs.api.urls")),
    path("v1/", include("apps.calls.api.urls")),
    path("v1/", include("apps.push.api.urls")),
    path("", include("apps.federation.urls")),
    path("", include("apps.devices.api.s2s")),
    path("", include("apps.blobs.api.s2s")),
    path("", include("apps.transport.urls")),
    path("admin/", admin_site.urls),
    path("", include("talkee.app_urls")),
]
