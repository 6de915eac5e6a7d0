from django.urls import path

from apps.federation import views

urlpatterns = [
    path(".well-known/talkee/server", views.server_discovery, name="well-known-server"),
    path("s2s/v1/envelopes", views.envelopes, name="s2s-envelopes"),
    path("s2s/v1/users", views.user_lookup, name="s2s-users"),
    path("s2s/mls/keybundle", views.keybundle, name="s2s-keybundle"),
    path("s2s/v1/blobs/<uuid:blob_id>", views.blob, name="s2s-blob"),
    path("s2s/v1/uploads/<uuid:blob_id>", views.upload, name="s2s-upload"),
]
