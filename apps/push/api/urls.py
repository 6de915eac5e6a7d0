from django.urls import path

from apps.push.api import views

urlpatterns = [
    path("push/vapid", views.VapidView.as_view(), name="push-vapid"),
    path("push/subscription", views.SubscriptionView.as_view(), name="push-subscription"),
    path("push/mutes", views.MuteListView.as_view(), name="push-mutes"),
    path("push/preferences", views.PreferencesView.as_view(), name="push-preferences"),
    path("push/mutes/<uuid:chat_id>", views.MuteView.as_view(), name="push-mute"),
]
