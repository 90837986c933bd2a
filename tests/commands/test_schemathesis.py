"""Property-based tests of the REST API against its own OpenAPI 3.1 schema (schemathesis),
in process through the ASGI application, with a bounded number of examples per operation.

Checks: no server errors, documented status codes, content types and headers, responses
matching their schemas, schema-violating data refused, 401 without a token, 405 with Allow.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from hypothesis import HealthCheck, settings

from commands import execution
from commands.settings import clear_overrides


@pytest.fixture
def token(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from commands.actions import do_create_token

    # Long commands answer 202 and stay queued: no worker thread races the test database.
    monkeypatch.setattr(execution, "send", lambda run_id: None)
    _, raw = do_create_token("schemathesis")
    yield raw
    clear_overrides()


def _load() -> Any:
    """The document /api/openapi.json serves, bound to the ASGI application (no request is
    made at collection: the test environment is not set up yet)."""
    from commands.openapi import build_schema
    from xmppsite.asgi import application

    # The coverage phase would send every case the schema defines (hundreds per operation):
    # the bounded fuzzing phase, positive and negative, keeps this under half a minute.
    # Schema-valid values may still be refused for what a schema cannot say (a JID on a domain
    # this server hosts, an account that exists): positive_data_acceptance is off.
    config = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}},
                                           "checks": {"positive_data_acceptance": {"enabled": False}}})
    loaded = schemathesis.openapi.from_dict(build_schema(), config=config)
    loaded.app = application
    return loaded


schema = _load()


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
