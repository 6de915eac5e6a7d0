"""Thin views: parse, call one service, answer."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import selectors, services
from apps.accounts.api import serializers
from apps.accounts.api.throttles import (
    LoginIPThrottle,
    LoginUsernameThrottle,
    PasswordChangeThrottle,
    RegisterIPThrottle,
)
from apps.accounts.authentication import request_session
from apps.accounts.federation import remote_profile
from apps.accounts.models import Profile
from apps.accounts.selectors import blocked_users_of
from apps.core.api_fields import check_address, validated
from apps.core.b64 import b64
from apps.core.errors import NotFound
from apps.core.schema import error_response

# What only these views know; the generic errors (400, 401, 413, 415, 429) come from
# apps.core.schema.ApiAutoSchema.
WRONG_CREDENTIALS = error_response(
    "invalid_credentials / invalid_signature: wrong password, nonce or device signature; "
    "signed_out: a non-interactive login of a device signed out from another one"
)


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [RegisterIPThrottle]

    @extend_schema(
        request=serializers.RegisterSerializer,
        responses={
            201: serializers.RegisterAnswerSerializer,
            409: error_response("username_taken / username_retired: it belonged to a deleted account"),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(serializers.RegisterSerializer, request.data)
        user = services.do_register(data["username"], data["password"], data["recovery_hash"])
        return Response({"user": user.username}, status=status.HTTP_201_CREATED)


class ChallengeView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [LoginIPThrottle]

    @extend_schema(request=serializers.ChallengeSerializer, responses={200: serializers.ChallengeAnswerSerializer})
    def post(self, request: Request) -> Response:
        data = validated(serializers.ChallengeSerializer, request.data)
        return Response({"nonce": services.do_issue_challenge(data["username"])})


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [LoginIPThrottle, LoginUsernameThrottle]

    @extend_schema(
        request=serializers.LoginSerializer,
        responses={
            200: serializers.LoginAnswerSerializer,
            401: WRONG_CREDENTIALS,
            403: error_response("account_blocked / device_revoked"),
            409: error_response("device_key_in_use / device_key_mismatch: the device keys belong elsewhere"),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(serializers.LoginSerializer, request.data)
        device = data["device"]
        result = services.do_login(
            data["username"],
            data["password"],
            data["nonce"],
            data["signature"],
            client_device_id=str(device["client_device_id"]),
            ed25519_pub=device["ed25519_pub"],
            x25519_pub=device["x25519_pub"],
            label=device.get("label", ""),
            interactive=data["interactive"],
        )
        return Response({"token": result.token, "device_id": result.device.pk, "user": result.user.username})


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.do_logout(request_session(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecoverView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [LoginIPThrottle, LoginUsernameThrottle]

    @extend_schema(
        request=serializers.RecoverSerializer,
        responses={
            204: None,
            403: error_response("invalid_recovery_proof: the recovery phrase does not match"),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(serializers.RecoverSerializer, request.data)
        services.do_recover(data["username"], data["recovery_proof"], data["new_password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChangePasswordView(APIView):
    throttle_classes = [PasswordChangeThrottle]

    @extend_schema(
        request=serializers.ChangePasswordSerializer,
        responses={
            200: serializers.SignedOutAnswerSerializer,
            400: error_response("weak_password / same_password / invalid input"),
            403: error_response("wrong_password: the current password is not right"),
        },
    )
    def post(self, request: Request) -> Response:
        """Change the password (the current one required); optionally sign out every other device."""
        data = validated(serializers.ChangePasswordSerializer, request.data)
        signed_out = services.do_change_password(
            request_session(request),
            data["current_password"],
            data["new_password"],
            log_out_others=data["log_out_other_devices"],
        )
        return Response({"signed_out": signed_out})


class LogOutOtherDevicesView(APIView):
    @extend_schema(request=None, responses={200: serializers.SignedOutAnswerSerializer})
    def post(self, request: Request) -> Response:
        """End the sessions of all the account's other devices; their sockets close with 4002."""
        return Response({"signed_out": services.do_log_out_other_devices(request_session(request))})


def _profile_answer(profile: Profile) -> dict[str, object]:
    return {"user": profile.account.username, "version": profile.version, "ciphertext": b64(bytes(profile.ciphertext))}


class OwnProfileView(APIView):
    @extend_schema(
        responses={200: serializers.ProfileAnswerSerializer, 404: error_response("not_found: no profile yet")}
    )
    def get(self, request: Request) -> Response:
        """The caller's own encrypted profile (a new device learns the version to go past)."""
        profile = selectors.profile_of(request_session(request).user.username)
        if profile is None:
            raise NotFound("No profile has been set yet.")
        return Response(_profile_answer(profile))

    @extend_schema(
        request=serializers.ProfileSerializer,
        responses={
            200: serializers.ProfileAnswerSerializer,
            409: error_response("stale_profile_version: the stored profile has this version or a higher one"),
            413: error_response("profile_too_large: the encrypted profile is over the instance's limit"),
        },
    )
    def put(self, request: Request) -> Response:
        """Replace the caller's encrypted profile (display name, picture), sealed by the client
        under a profile key it shares with its chats' members through MLS."""
        data = validated(serializers.ProfileSerializer, request.data)
        user = request_session(request).user
        profile = services.do_set_profile(user, data["version"], data["ciphertext"])
        return Response(_profile_answer(profile))


class ProfileView(APIView):
    @extend_schema(
        responses={
            200: serializers.ProfileAnswerSerializer,
            404: error_response(
                "not_found: no profile yet / user_not_found: a user of another instance that is in no chat here"
            ),
            502: error_response("invalid_peer_answer: the user's instance sent a malformed profile"),
            503: error_response("peer_unreachable: the user's instance cannot be reached and nothing is mirrored"),
        }
    )
    def get(self, request: Request, user: str) -> Response:
        """A user's encrypted profile; only those the user gave the profile key (their chats'
        members, through MLS) can open it. A user of another instance that this instance
        knows (someone in one of its chats) is asked of their instance and mirrored here."""
        address = selectors.full_address(user)
        if address.endswith("@" + settings.TALKEE_DOMAIN):
            profile = selectors.profile_of(address)
            if profile is None:
                raise NotFound("This user has no profile here.")
            return Response(_profile_answer(profile))
        remote = selectors.user_by_address(address)
        if remote is None:
            raise NotFound("No one by that name is in a chat here.", code="user_not_found")
        return Response(_profile_answer(remote_profile(remote)))


class DeleteAccountView(APIView):
    # Shares the password throttle: a stolen token must not guess the password here either.
    throttle_classes = [PasswordChangeThrottle]

    @extend_schema(
        request=serializers.DeleteAccountSerializer,
        responses={
            204: None,
            403: error_response("wrong_password: the password is not right"),
        },
    )
    def post(self, request: Request) -> Response:
        """Delete the account (the password required): it leaves every chat, its devices,
        sessions, KeyPackages, push subscriptions and queued device-stream rows go, its
        sockets close with 4004, and its username is never registered again."""
        data = validated(serializers.DeleteAccountSerializer, request.data)
        services.do_delete_account(request_session(request), data["password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


BLOCK_REFUSED = error_response("cannot_block_self")
NO_SUCH_USER = error_response("user_not_found")


class BlocksView(APIView):
    @extend_schema(responses={200: serializers.BlockSerializer(many=True)})
    def get(self, request: Request) -> Response:
        """The people I blocked; nobody else can read this list."""
        user = request_session(request).user
        return Response([serializers.BlockSerializer(block).data for block in blocked_users_of(user.pk)])

    @extend_schema(
        request=serializers.BlockRequestSerializer,
        responses={201: serializers.BlockSerializer, 400: BLOCK_REFUSED, 404: NO_SUCH_USER},
    )
    def post(self, request: Request) -> Response:
        """Block someone: their new direct chats with me, invitations of me and messages in
        our direct chat are refused (403 `not_accepted`); my apps hide them in groups."""
        data = validated(serializers.BlockRequestSerializer, request.data)
        block = services.do_block_user(request_session(request).user, data["user"])
        return Response(serializers.BlockSerializer(block).data, status=status.HTTP_201_CREATED)


class BlockView(APIView):
    @extend_schema(request=None, responses={204: None, 400: BLOCK_REFUSED, 404: NO_SUCH_USER})
    def delete(self, request: Request, address: str) -> Response:
        """Unblock someone."""
        services.do_unblock_user(request_session(request).user, check_address(address))
        return Response(status=status.HTTP_204_NO_CONTENT)
