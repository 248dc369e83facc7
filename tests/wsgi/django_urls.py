"""URLs of the Django flavour of the test API (see ``apps.py``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

import tokenauth_wsgi.django as tokenauth_views
from tests.wsgi.apps import _me
from tokenauth_wsgi import claims_of, principal_of


def me(request: HttpRequest) -> HttpResponse:
    body = _me(principal_of(request.META), claims_of(request.META))
    return HttpResponse(body, content_type="application/json")


def public(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"open", content_type="text/plain")


urlpatterns = [
    path("token", tokenauth_views.login),
    path("logout", tokenauth_views.logout),
    path(".well-known/jwks.json", tokenauth_views.jwks),
    path("api/me", me),
    path("public", public),
]
