from django.urls import path

from apps.blobs.api import views

urlpatterns = [
    path("blobs", views.BlobsView.as_view(), name="blobs"),
    path("blobs/<uuid:blob_id>", views.BlobView.as_view(), name="blob"),
    path("blobs/<uuid:blob_id>/chunks", views.ChunksView.as_view(), name="blob-chunks"),
    path("blobs/<uuid:blob_id>/chunks/<int:index>", views.ChunkView.as_view(), name="blob-chunk"),
    path("blobs/<uuid:blob_id>/complete", views.CompleteView.as_view(), name="blob-complete"),
]
