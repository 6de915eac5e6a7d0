"""The PWA shell at `/` and its built assets under `/app/` (from `static/app/`).

The service worker and the web manifest are served at the root as well: a worker's
scope cannot reach above the path it is served from, and the app lives at `/`."""

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, re_path
from django.views.decorators.http import require_GET


def _app_file(relative: str) -> Path:
    root = Path(settings.TALKEE_APP_DIR).resolve()
    candidate = (root / relative).resolve()
    if root not in candidate.parents and candidate != root:
        raise Http404("outside the app")
    if not candidate.is_file():
        raise Http404("no such file")
    return candidate


@require_GET
def app_shell(request: HttpRequest) -> HttpResponse | FileResponse:
    try:
        index = _app_file("index.html")
    except Http404:
        return render(request, "app_missing.html", status=503)
    response = FileResponse(index.open("rb"), content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def app_asset(request: HttpRequest, relative: str) -> FileResponse:
    response = FileResponse(_app_file(relative).open("rb"))
    if relative.startswith("assets/"):
        # Vite fingerprints everything under assets/: safe to cache for good.
        response["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response["Cache-Control"] = "no-cache"
    return response


@require_GET
def app_root_file(request: HttpRequest, name: str) -> FileResponse:
    response = FileResponse(_app_file(name).open("rb"), content_type=ROOT_FILES[name])
    # Browsers check for a new worker on navigation; never let a cache pin an old one.
    response["Cache-Control"] = "no-cache"
    if name == "sw.js":
        response["Service-Worker-Allowed"] = "/"
    return response


ROOT_FILES = {
    "sw.js": "text/javascript; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
}

urlpatterns = [
    path("", app_shell, name="app-shell"),
    re_path(r"^(?P<name>sw\.js|manifest\.webmanifest)$", app_root_file, name="app-root-file"),
    re_path(r"^app/(?P<relative>.+)$", app_asset, name="app-asset"),
]
