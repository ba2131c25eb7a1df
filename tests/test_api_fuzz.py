"""The API fuzzed against its own OpenAPI schema (schemathesis): whatever a caller sends,
no answer is a server error, and every answer has a documented status code, content type,
headers and body shape.

Every operation served at /api/schema/ is called in-process, on the test database, with
generated path and query parameters, both valid (positive) and invalid (negative), and
with the addresses of things that exist (an approved release, a draft, job categories,
graded models), anonymously, with an analyst's token (who sees drafts) and with a token
that is not valid (refused, as documented).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.db.models import F
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from occupations.models import Occupation
from reports.models import Release
from reports.release_tables import TABLES

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

EXAMPLES_PER_OPERATION = 40
WRONG_TOKEN = {"Authorization": "Token 0123456789abcdef0123456789abcdef01234567"}


@pytest.fixture
def same_connection() -> Iterator[None]:
    """The application answers on the test's database connection, inside its transaction.

    A request's start and end close a stale connection, which here would end the test's
    transaction; Django's test client leaves them open in the same way.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def known(approved_release, make_release) -> dict[str, list[Any]]:
    """Path values of things that exist: an approved release (public), a draft (for
    analysts only), every job category and the graded models."""
    draft = make_release(series="ai-and-work-draft")
    assert draft.status == Release.Status.DRAFT
    return {
        "identifier": [approved_release.identifier, draft.identifier],
        "table_id": [spec.id for spec in TABLES],
        "id": list(Occupation.objects.filter(job_category_id=F("pk")).values_list("pk", flat=True)),
        "slug": ["sim-early", "sim-late"],
    }


def reaches_the_api(case: Case) -> bool:
    """Whether an API route matches the case's address. Django's path converters answer an
    address they do not match (a negative id, a slug with a space) with the site's 404
    page before any API code runs, so such invalid values test nothing of the API."""
    try:
        return resolve(case.formatted_path).namespace == "api"
    except Resolver404:
        return False


def cases(operation: APIOperation, known: dict[str, list[Any]]) -> st.SearchStrategy[Case]:
    """Generated requests, valid and invalid, with generated or existing path values."""
    names = [p.name for p in operation.path_parameters]
    queries = list(operation.query)
    existing = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names})
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE).filter(reaches_the_api),
    ]
    if names:
        strategies.append(
            existing.flatmap(
                lambda values: operation.as_strategy(
                    GenerationMode.POSITIVE, path_parameters=values
                )
            )
        )
        if queries:
            strategies.append(
                existing.flatmap(
                    lambda values: operation.as_strategy(
                        GenerationMode.NEGATIVE, path_parameters=values
                    )
                ).filter(reaches_the_api)
            )
    return st.one_of(strategies)


def test_every_operation_answers_generated_requests_as_its_schema_documents(
    same_connection, known, users
):
    analyst = {"Authorization": f"Token {Token.objects.create(user=users['analyst']).key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    failures = []
    for operation in operations:

        @given(case=cases(operation, known))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            # One test function serves every operation: no examples saved from one to replay.
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def answers_as_documented(case: Case) -> None:
            case.call_and_validate(checks=CHECKS)
            case.call_and_validate(headers=analyst, checks=CHECKS)
            refused = case.call_and_validate(headers=WRONG_TOKEN, checks=CHECKS)
            assert refused.status_code == 401, refused.status_code

        # Every operation is fuzzed even when an earlier one fails; all failures are listed.
        try:
            answers_as_documented()
        except (Exception, FailureGroup) as failure:
            failures.append(f"{operation.label}:\n{''.join(traceback.format_exception(failure))}")
    assert not failures, "\n\n".join(failures)
