from django.apps import AppConfig


class AdminPanelConfig(AppConfig):
    name = "apps.adminpanel"
    label = "adminpanel"
