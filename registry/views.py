"""Server-rendered pages of the registry app and the site-wide error pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from registry.api import exceptions
from registry.selectors import system_health


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    health = system_health()
    return JsonResponse(health, status=200 if health["status"] == "ok" else 503)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/.well-known/")) or "json" in request.headers.get(
        "Accept", ""
    )


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return exceptions.not_found(request)
    return render(request, "errors/404.html", status=404)


def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return exceptions.bad_request(request)
    return render(request, "errors/400.html", status=400)


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return exceptions.permission_denied(request)
    return render(request, "errors/403.html", status=403)


def error_500(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return exceptions.server_error(request)
    return render(request, "errors/500.html", status=500)
