from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "apps.devices"
    label = "devices"

    def ready(self) -> None:
        from apps.devices import federation

        federation.register()  # its envelope kinds' handlers (apps/federation/registry.py)
