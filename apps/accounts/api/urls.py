from django.urls import path

from apps.accounts.api import views

urlpatterns = [
    path("accounts/register", views.RegisterView.as_view(), name="register"),
    path("accounts/recover", views.RecoverView.as_view(), name="recover"),
    path("accounts/me/password", views.ChangePasswordView.as_view(), name="change-password"),
    path("accounts/me/delete", views.DeleteAccountView.as_view(), name="delete-account"),
    path("accounts/me/log-out-others", views.LogOutOtherDevicesView.as_view(), name="log-out-others"),
    path("accounts/me/profile", views.OwnProfileView.as_view(), name="own-profile"),
    path("accounts/<str:user>/profile", views.ProfileView.as_view(), name="profile"),
    path("blocks", views.BlocksView.as_view(), name="blocks"),
    path("blocks/<str:address>", views.BlockView.as_view(), name="block"),
    path("auth/challenge", views.ChallengeView.as_view(), name="auth-challenge"),
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
]
