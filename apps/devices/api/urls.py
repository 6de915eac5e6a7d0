from django.urls import path

from apps.devices.api import views

urlpatterns = [
    path("devices", views.DeviceListView.as_view(), name="devices"),
    path("devices/<int:device_id>", views.DeviceDetailView.as_view(), name="device-detail"),
    path("devices/<int:device_id>/certificate", views.DeviceCertificateView.as_view(), name="device-certificate"),
    path("devices/of/<str:address>", views.UserCertificatesView.as_view(), name="devices-of"),
    path("devices/identity", views.IdentityKeyView.as_view(), name="devices-identity"),
    path("keypackages", views.KeyPackageUploadView.as_view(), name="keypackages"),
    path("keypackages/claim", views.KeyPackageClaimView.as_view(), name="keypackages-claim"),
    path("device-sync/bundle", views.SyncBundleView.as_view(), name="device-sync-bundle"),
]
