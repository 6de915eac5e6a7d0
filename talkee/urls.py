from csp.constants import SELF
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.adminpanel.site import admin_site
from talkee import views
from talkee.metrics import metrics_view

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("v1/schema", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's init script as a file of its own (the split view), under the same CSP as the
    # app; only its page's small <style> block needs inline styles.
    path(
        "v1/docs",
        csp_update({"style-src": [SELF, "'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="docs",
    ),
    path("v1/", include("apps.accounts.api.urls")),
    path("v1/", include("apps.devices.api.urls")),
    path("v1/", include("apps.chats.api.urls")),
    path("v1/", include("apps.messages.api.urls")),
    path("v1/", include("apps.blobs.api.urls")),
    path("v1/", include("apps.calls.api.urls")),
    path("v1/", include("apps.push.api.urls")),
    path("", include("apps.federation.urls")),
    path("", include("apps.accounts.api.s2s")),
    path("", include("apps.devices.api.s2s")),
    path("", include("apps.blobs.api.s2s")),
    path("", include("apps.transport.urls")),
    path("admin/", admin_site.urls),
    path("", include("talkee.app_urls")),
]
