from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from apps.accounts import federation, schema  # noqa: F401  (schema registers the OpenAPI extension)

        federation.register()  # its envelope kinds' handlers (apps/federation/registry.py)
