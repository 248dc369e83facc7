"""URLs of the Django flavour of the test API (see ``apps.py``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import tokenauth_wsgi.django as tokenauth_views
from tests.wsgi.apps import STEP_UP_AGE, _me, admin_body, pay_body
from tokenauth import Authenticated
from tokenauth_wsgi import claims_of, principal_of
from tokenauth_wsgi.drf import HasRecentLogin, HasScopes, has_recent_login


def me(request: HttpRequest) -> HttpResponse:
    body = _me(principal_of(request.META), claims_of(request.META))
    return HttpResponse(body, content_type="application/json")


@tokenauth_views.requires("admin")
def admin(request: HttpRequest) -> HttpResponse:
    return HttpResponse(admin_body(request.user), content_type="application/json")  # type: ignore[arg-type]


@tokenauth_views.requires_recent_login(STEP_UP_AGE)
def pay(request: HttpRequest) -> HttpResponse:
    return HttpResponse(pay_body(request.auth.principal.subject), content_type="application/json")  # type: ignore[attr-defined]


@tokenauth_views.requires_recent_login(STEP_UP_AGE)
async def pay_async(request: HttpRequest) -> HttpResponse:
    return HttpResponse(pay_body(request.auth.principal.subject), content_type="application/json")  # type: ignore[attr-defined]


@tokenauth_views.requires("admin", max_age=STEP_UP_AGE)
def admin_pay(request: HttpRequest) -> HttpResponse:
    return HttpResponse(pay_body(request.auth.principal.subject), content_type="application/json")  # type: ignore[attr-defined]


class DRFPay(APIView):
    """A DRF view that needs a login at most STEP_UP_AGE seconds old."""

    permission_classes = (HasRecentLogin,)
    required_login_age = STEP_UP_AGE

    def get(self, request: Request) -> Response:
        return Response({"sub": request.auth.principal.subject})  # type: ignore[union-attr]


class DRFAdminPay(APIView):
    """A DRF view that needs the admin scope and a recent login: the scope is checked first."""

    permission_classes = (HasScopes, has_recent_login(STEP_UP_AGE))
    required_scopes = ("admin",)

    def get(self, request: Request) -> Response:
        return Response({"sub": request.auth.principal.subject})  # type: ignore[union-attr]


class DRFAdmin(APIView):
    """A Django REST framework view that needs the admin scope."""

    permission_classes = (HasScopes,)
    required_scopes = ("admin",)

    def get(self, request: Request) -> Response:
        assert isinstance(request.auth, Authenticated)
        return Response({"name": request.user.name})  # type: ignore[union-attr]


class DRFMe(APIView):
    """A DRF view any valid token may use: who DRF says is calling."""

    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response({"name": request.user.name, "sub": request.auth.claims.sub})  # type: ignore[union-attr]


def public(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"open", content_type="text/plain")


urlpatterns = [
    path("token", tokenauth_views.login),
    path("logout", tokenauth_views.logout),
    path(".well-known/jwks.json", tokenauth_views.jwks),
    path("api/me", me),
    path("api/admin", admin),
    path("drf/admin", DRFAdmin.as_view()),
    path("drf/me", DRFMe.as_view()),
    path("api/pay", pay),
    path("api/pay-async", pay_async),
    path("api/admin-pay", admin_pay),
    path("drf/pay", DRFPay.as_view()),
    path("drf/admin-pay", DRFAdminPay.as_view()),
    path("public", public),
]
