from django.urls import path

from apps.federation import views

# The other /s2s/ endpoints are their owning apps' (apps/accounts/api/s2s.py,
# apps/devices/api/s2s.py, apps/blobs/api/s2s.py), wired in talkee/urls.py.
urlpatterns = [
    path(".well-known/talkee/server", views.server_discovery, name="well-known-server"),
    path("s2s/v1/envelopes", views.envelopes, name="s2s-envelopes"),
]
