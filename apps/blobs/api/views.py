"""Blob endpoints. Thin: validate, call one service, answer. Chunk bodies are raw bytes
read from the request stream piece by piece (no DRF parser, so never one big bytes)."""

import io
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import request_session
from apps.blobs import selectors, services
from apps.blobs.api import serializers
from apps.blobs.api.ranges import RangeNotSatisfiable, byte_range
from apps.blobs.federation import home_blob_pieces
from apps.blobs.models import Blob
from apps.blobs.storage import aiter_range, iter_range, open_blob_file
from apps.core.api_fields import validated
from apps.core.errors import Conflict, NotFound, error_body
from apps.core.schema import error_response

RAW_TYPES = ("", "application/octet-stream")
# What only these views know; the generic errors (400, 401, 404, 413, 415) come from
# apps.core.schema.ApiAutoSchema.
INCOMPLETE = error_response("upload_incomplete / already_complete: the upload is not in that state")

logger = logging.getLogger("talkee.blobs")


def _member_blob(request: Request, blob_id: uuid.UUID) -> Blob:
    blob = selectors.blob_for_member(blob_id, request_session(request).user_id)
    if blob is None:
        raise NotFound("No such blob.", code="blob_not_found")
    return blob


def _status(blob: Blob) -> dict[str, Any]:
    return {
        "id": blob.id,
        "size": blob.size,
        "chunk_size": blob.chunk_size,
        "chunk_count": blob.chunk_count,
        "received": selectors.received_chunks(blob),
        "complete": blob.is_complete,
    }


class BlobsView(APIView):
    @extend_schema(
        request=serializers.CreateBlobSerializer,
        responses={
            201: serializers.BlobCreatedSerializer,
            403: error_response("channel_read_only: only the channel's owners and admins post files"),
            404: error_response("chat_not_found"),
            413: error_response("too_large / quota_exceeded: the file or the upload allowance"),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(serializers.CreateBlobSerializer, request.data)
        blob = services.do_create_blob(request_session(request).user_id, data["chat_id"], data["size"])
        body = {
            "id": blob.id,
            "size": blob.size,
            "chunk_size": blob.chunk_size,
            "chunk_count": blob.chunk_count,
            "expires_at": blob.expires_at,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class ChunkView(APIView):
    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={
            201: serializers.ChunkStoredSerializer,
            200: serializers.ChunkStoredSerializer,
            409: INCOMPLETE,
            411: error_response("length_required: send Content-Length"),
        },
    )
    def put(self, request: Request, blob_id: uuid.UUID, index: int) -> Response:
        media_type = request.content_type.split(";")[0].strip().lower()
        if media_type not in RAW_TYPES:
            raise UnsupportedMediaType(media_type, "A chunk is raw bytes: Content-Type: application/octet-stream.")
        header = str(request.META.get("CONTENT_LENGTH") or "")
        length = int(header) if header.isdigit() else None
        body = request.stream or io.BytesIO()
        stored = services.do_store_chunk(request_session(request).user_id, blob_id, index, body, length)
        return Response(
            {"index": stored.index, "length": stored.length},
            status=status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK,
        )


class ChunksView(APIView):
    @extend_schema(responses={200: serializers.UploadStatusSerializer})
    def get(self, request: Request, blob_id: uuid.UUID) -> Response:
        """Which chunks the server holds, so an interrupted upload can resume."""
        return Response(_status(_member_blob(request, blob_id)))


class CompleteView(APIView):
    @extend_schema(request=None, responses={200: serializers.BlobCompletedSerializer, 409: INCOMPLETE})
    def post(self, request: Request, blob_id: uuid.UUID) -> Response:
        blob = services.do_complete_upload(request_session(request).user_id, blob_id)
        return Response({"id": str(blob.id), "size": blob.size})


class BlobView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Range",
                location=OpenApiParameter.HEADER,
                required=False,
                description="One byte range: bytes=first-last, bytes=first- or bytes=-suffix (206).",
            )
        ],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
            409: INCOMPLETE,
            416: error_response("range_not_satisfiable: the Range is outside the file"),
            502: error_response("peer_refused: the chat's home instance refused the file"),
            503: error_response("peer_unreachable: the chat's home instance cannot be reached now"),
        },
    )
    def get(self, request: Request, blob_id: uuid.UUID) -> HttpResponseBase:
        """The encrypted bytes, for the chat's members only; one `Range` supported."""
        blob = _member_blob(request, blob_id)
        if blob.at_home:
            return fetch_from_home(request._request, blob, request_session(request).user_id)
        return blob_response(request._request, blob)


def _requested_span(request: HttpRequest, blob: Blob) -> tuple[int, int] | JsonResponse | None:
    """The one `Range` asked for (None: the whole blob), or the 416 answer for a bad one."""
    try:
        return byte_range(request.headers.get("Range"), blob.size)
    except RangeNotSatisfiable as exc:
        return JsonResponse(
            error_body(exc.code, exc.message), status=exc.status, headers={"Content-Range": f"bytes */{blob.size}"}
        )


def blob_response(request: HttpRequest, blob: Blob) -> HttpResponseBase:
    """A complete local blob's bytes (one `Range` supported): for members here, and for a
    peer fetching a range for its members (apps/blobs/api/s2s.blob)."""
    if not blob.is_complete:
        raise Conflict("This upload is not complete yet.", code="upload_incomplete")
    span = _requested_span(request, blob)
    if isinstance(span, JsonResponse):
        return span
    first, last = span if span is not None else (0, blob.size - 1)
    length = last - first + 1
    # Opened before answering: a stored file that is gone is a clear error, not a download
    # whose headers went out and whose body never comes.
    try:
        file = open_blob_file(blob.storage_name)
    except FileNotFoundError:
        logger.error("a complete blob's stored file is missing", extra={"blob": str(blob.id)})
        raise NotFound("This file's stored bytes are missing on the server.", code="blob_missing") from None
    if isinstance(request, ASGIRequest):
        content: Any = aiter_range(file, first, length)
    else:
        content = iter_range(file, first, length)
    response = FileResponse(
        content,
        status=status.HTTP_206_PARTIAL_CONTENT if span is not None else status.HTTP_200_OK,
        content_type=blob.content_type,
    )
    return _blob_headers(response, blob, length, None if span is None else (first, last))


def _blob_headers(
    response: HttpResponseBase, blob: Blob, length: int, span: tuple[int, int] | None
) -> HttpResponseBase:
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'attachment; filename="{blob.name}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    if span is not None:
        response["Content-Range"] = f"bytes {span[0]}-{span[1]}/{blob.size}"
    return response


async def _one_piece_at_a_time(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Under ASGI, Django would read a sync iterator to its end before sending anything;
    this holds one piece (at most BLOB_PIECE_BYTES) at a time."""
    while (piece := await sync_to_async(_next_piece)(pieces)) is not None:
        yield piece


def _next_piece(pieces: Iterator[bytes]) -> bytes | None:
    return next(pieces, None)


def fetch_from_home(request: HttpRequest, blob: Blob, user_id: int) -> HttpResponseBase:
    """A file of a chat homed elsewhere, for a member here: the requested range fetched from
    the home piece by piece (signed, mutual TLS; the home checks the member there) and
    streamed on. Nothing is kept here."""
    span = _requested_span(request, blob)
    if isinstance(span, JsonResponse):
        return span
    first, last = span if span is not None else (0, blob.size - 1)
    pieces = home_blob_pieces(blob.chat_id, blob.id, user_id, first, last)
    head = next(pieces)  # fetched before answering: a refusal at the home is a clear error here
    content: Any = itertools.chain([head], pieces)
    if isinstance(request, ASGIRequest):
        content = _one_piece_at_a_time(content)
    response = StreamingHttpResponse(
        content,
        status=status.HTTP_206_PARTIAL_CONTENT if span is not None else status.HTTP_200_OK,
        content_type=blob.content_type,
    )
    return _blob_headers(response, blob, last - first + 1, span and (first, last))
