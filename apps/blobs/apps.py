from django.apps import AppConfig


class BlobsConfig(AppConfig):
    name = "apps.blobs"
    label = "blobs"

    def ready(self) -> None:
        from apps.blobs import storage

        storage.connect_file_cleanup()
