"""The binding's own logic: path matching, status lines, and fidelity to the core.

The fidelity tests call each flavour as a WSGI app in-process, with arbitrary
``Authorization`` headers and query strings, and check that its response is
exactly the core's result rendered directly.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import types
import wsgiref.util
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tokenauth_wsgi
from tests.wsgi.apps import BUILDERS, FRAMEWORKS, make_auth
from tokenauth.extend import PathMatcher
from tokenauth_wsgi._environ import render, status_line

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

# -- paths -------------------------------------------------------------------------

segments = st.lists(
    st.one_of(st.sampled_from(["api", "apix", "health", "x", ""]), st.text("ab%~-", max_size=3)),
    max_size=5,
)


def _path(parts: list[str]) -> str:
    return "/" + "/".join(parts)


@given(segments)
def test_every_path_is_secured_by_default(parts: list[str]) -> None:
    assert PathMatcher.of(None)(_path(parts))


@given(segments, segments)
def test_a_path_under_a_prefix_is_secured(prefix: list[str], rest: list[str]) -> None:
    matcher = PathMatcher.of([_path(prefix)])
    assert matcher(_path(prefix + rest))


RULES = [(["/api"], []), (None, ["/health"]), (["/"], ["/api/x"])]


@given(segments, st.data())
def test_extra_slashes_change_nothing(parts: list[str], data: st.DataObject) -> None:
    noisy = [p for part in parts for p in data.draw(st.sampled_from([[part], ["", part]]))]
    for include, exclude in RULES:
        matcher = PathMatcher.of(include, exclude)
        assert matcher(_path(noisy)) == matcher(_path(parts))


@given(segments, st.data())
def test_dot_segments_never_open_a_secured_path(parts: list[str], data: st.DataObject) -> None:
    noisy = [p for part in parts for p in data.draw(st.sampled_from([[part], [".", part]]))]
    for include, exclude in RULES:
        matcher = PathMatcher.of(include, exclude)
        assert matcher(_path(noisy)) >= matcher(_path(parts))


def test_prefixes_match_whole_segments() -> None:
    matcher = PathMatcher.of(["/api/"])
    assert matcher("/api")
    assert matcher("/api/me")
    assert not matcher("/apix")
    assert not matcher("/public")


def test_a_path_is_open_only_if_every_reading_of_it_is() -> None:
    matcher = PathMatcher.of(None, ["/health"])
    assert not matcher("/health")
    assert not matcher("//health/ok")
    # werkzeug would route these to /health/..., a proxy to /api: secured either way.
    assert matcher("/health/../api/secret")
    assert PathMatcher.of(["/api"])("/api/../public")
    assert PathMatcher.of(["/api"])("/public/../api/me")


@given(st.sampled_from(list(HTTPStatus)))
def test_status_lines_carry_the_standard_reason_phrase(status: HTTPStatus) -> None:
    assert status_line(status.value) == f"{status.value} {status.phrase}"


def test_status_line_of_an_unnamed_code() -> None:
    assert status_line(599) == "599 Unknown"


# -- fidelity to the core -----------------------------------------------------------

# What a WSGI server can put in the environ: latin-1 text without line breaks.
header_text = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=60)
authorization = st.one_of(
    st.none(),
    header_text,
    st.builds(lambda s: "Bearer " + s, header_text),
    st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=30)),
    st.builds(lambda b: "bAsIc  " + base64.b64encode(b).decode(), st.binary(max_size=30)),
)
query = st.one_of(
    st.just(""),
    header_text,
    st.builds(lambda a, b: f"token={a}&x={b}", header_text, header_text),
    st.builds(lambda a, b: f"token={a}&token={b}", header_text, header_text),
)


def _call(app: WSGIApplication, method: str, path: str, auth: str | None, qs: str) -> Any:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": qs,
        "wsgi.url_scheme": "https",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(),
    }
    if auth is not None:
        environ["HTTP_AUTHORIZATION"] = auth
    wsgiref.util.setup_testing_defaults(environ)
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    chunks = app(environ, start_response)
    body = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    status, headers = started[0]
    return status, headers, body


def _same(actual: Any, expected: Any) -> None:
    status, headers, body = actual
    rendered = render(expected)
    assert status == rendered.status_line
    assert body == rendered.body
    names = {name.lower() for name, _ in rendered.headers}
    assert [h for h in headers if h[0].lower() in names | {"www-authenticate"}] == rendered.headers


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_login_answers_exactly_as_the_core_says(framework: str) -> None:
    auth = make_auth()
    app = BUILDERS[framework](auth)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(authorization)
    def check(header: str | None) -> None:
        actual = _call(app, "POST", "/token", header, "")
        _same(actual, auth.login(header, secure=True, client="127.0.0.1"))

    check()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_secured_paths_answer_exactly_as_the_core_says(framework: str) -> None:
    auth = make_auth()
    app = BUILDERS[framework](auth)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(authorization, query)
    def check(header: str | None, qs: str) -> None:
        actual = _call(app, "GET", "/api/me", header, qs)
        _same(actual, auth.authenticate(header, query=qs, secure=True, client="127.0.0.1"))

    check()


# -- packaging ---------------------------------------------------------------------


def test_the_binding_imports_without_any_framework() -> None:
    code = (
        "import sys\n"
        "for name in ('flask', 'werkzeug', 'django', 'gunicorn'): sys.modules[name] = None\n"
        "import tokenauth_wsgi\n"
        "print(tokenauth_wsgi.TokenAuthMiddleware.__name__)\n"
    )
    out = subprocess.run(  # the test's own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "TokenAuthMiddleware"


def test_exported_members_are_sorted_and_public() -> None:
    exported = tokenauth_wsgi.__all__
    assert exported == sorted(exported)
    assert all(hasattr(tokenauth_wsgi, name) for name in exported)
    public = {
        name
        for name, value in vars(tokenauth_wsgi).items()
        if not name.startswith("_")
        and name != "annotations"
        and not isinstance(value, types.ModuleType)  # the framework submodules
    }
    assert public == set(exported)
