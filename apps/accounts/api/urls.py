from django.urls import path

from apps.accounts.api import views

urlpatterns = [
    path("accounts/register", views.RegisterView.as_view(), name="register"),
    path("accounts/recover", views.RecoverView.as_view(), name="recover"),
    path("auth/challenge", views.ChallengeView.as_view(), name="auth-challenge"),
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
]
