"""``ConfluentSchemaRegistry`` against a scripted registry on loopback: every error path.

The registry is an HTTP server in this process that answers each request from a script
(status and JSON body per method and path), so each answer a real registry can give (down,
4xx, 5xx, slow, ``is_compatible: false`` with or without details) is reproduced exactly and
the client's translation into the library's errors is what is asserted: a registry that is
down, failing or slow is *unavailable* (transient), a refusal is a permanent error naming the
status, and an incompatible schema says which field broke.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from eventing.exceptions import EventingError, IncompatibleSchema, SchemaRegistryUnavailable
from eventing.serialization.registry import ConfluentSchemaRegistry

pytestmark = pytest.mark.unit

V1 = json.dumps(
    {
        "type": "record",
        "name": "Account",
        "namespace": "tests",
        "fields": [{"name": "id", "type": "string"}],
    }
)
# Adds a field without a default: not BACKWARD compatible (new readers cannot read old data).
V2 = json.dumps(
    {
        "type": "record",
        "name": "Account",
        "namespace": "tests",
        "fields": [{"name": "id", "type": "string"}, {"name": "tier", "type": "string"}],
    }
)


@dataclass
class Answer:
    status: int
    body: Any = None
    #: When set, the server holds the response until the event is set (a slow registry).
    hold: threading.Event | None = None


@dataclass
class ScriptedRegistry:
    """What the server answers, and the requests it was sent."""

    url: str
    answers: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    def answer(self, method: str, path: str, *answers: Answer) -> None:
        """Answer ``method path`` with each of ``answers`` in turn (the last one repeats)."""
        self.answers[(method, path)] = list(answers)

    def paths(self, method: str | None = None, *, query: bool = True) -> list[str]:
        """The paths requested (with ``method``), with or without their query strings."""
        return [p if query else p.split("?")[0] for m, p, _ in self.requests if method is None or m == method]


@pytest.fixture
def scripted() -> Iterator[ScriptedRegistry]:
    released = threading.Event()
    state: dict[str, ScriptedRegistry] = {}

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            registry = state["registry"]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            registry.requests.append((self.command, self.path, json.loads(raw) if raw else None))
            queue = registry.answers.get((self.command, path))
            if not queue:
                answer = Answer(404, {"error_code": 40401, "message": f"no script for {path}"})
            else:
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
            if answer.hold is not None:
                answer.hold.wait(timeout=30)
                if released.is_set():
                    return
            body = json.dumps(answer.body).encode() if answer.body is not None else b""
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (a timeout test)
                pass

        do_GET = do_POST = do_PUT = do_DELETE = _reply

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["registry"] = ScriptedRegistry(url=f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield state["registry"]
    released.set()
    for queue in state["registry"].answers.values():
        for answer in queue:
            if answer.hold is not None:
                answer.hold.set()
    server.shutdown()
    server.server_close()


def client(url: str, *, timeout: float = 5.0, retries: int = 0) -> ConfluentSchemaRegistry:
    """The library's client; confluent-kafka's own retries (3, ~1 s apart) off unless asked for.

    Those retries are confluent-kafka's behaviour, not the library's; switching them off keeps
    each error test to one request (one test below keeps them to show a blip is ridden out).
    """
    registry = ConfluentSchemaRegistry(url, timeout=timeout)
    registry._client._rest_client.max_retries = retries
    registry._client._rest_client.retries_wait_ms = 10
    registry._client._rest_client.retries_max_wait_ms = 20
    return registry


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on (a registry that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/apis/ccompat/v7"


def error(code: int, message: str) -> dict[str, Any]:
    return {"error_code": code, "message": message}


# -- a registry that is down ------------------------------------------------------------------


def test_registering_with_the_registry_down_is_unavailable_naming_its_url() -> None:
    url = closed_port_url()
    with pytest.raises(SchemaRegistryUnavailable) as caught:
        client(url).register("accounts-value", V1)
    assert f"unreachable at {url}" in str(caught.value)
    assert caught.value.context["subject"] == "accounts-value"


@pytest.mark.parametrize("operation", ["lookup", "get_schema", "set_compatibility"])
def test_every_operation_with_the_registry_down_is_unavailable(operation: str) -> None:
    registry = client(closed_port_url())
    calls = {
        "lookup": lambda: registry.lookup("accounts-value", V1),
        "get_schema": lambda: registry.get_schema(7),
        "set_compatibility": lambda: registry.set_compatibility("accounts-value", "BACKWARD"),
    }
    with pytest.raises(SchemaRegistryUnavailable, match="unreachable at"):
        calls[operation]()


def test_the_compatibility_check_with_the_registry_down_is_unavailable() -> None:
    with pytest.raises(SchemaRegistryUnavailable, match="unreachable at") as caught:
        client(closed_port_url()).compatibility_problems("accounts-value", V1)
    assert caught.value.context == {"subject": "accounts-value"}


def test_a_registry_slower_than_the_timeout_is_unavailable(scripted: ScriptedRegistry) -> None:
    scripted.answer(
        "POST", "/subjects/accounts-value/versions", Answer(200, {"id": 1}, hold=threading.Event())
    )
    with pytest.raises(SchemaRegistryUnavailable, match="unreachable at"):
        client(scripted.url, timeout=0.2).register("accounts-value", V1)


def test_a_slow_compatibility_check_is_unavailable(scripted: ScriptedRegistry) -> None:
    path = "/compatibility/subjects/accounts-value/versions/latest"
    scripted.answer("POST", path, Answer(200, {"is_compatible": True}, hold=threading.Event()))
    with pytest.raises(SchemaRegistryUnavailable):
        client(scripted.url, timeout=0.2).compatibility_problems("accounts-value", V1)


# -- a registry that answers with an error ----------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_unavailable_with_the_status_and_the_registrys_message(
    scripted: ScriptedRegistry, status: int
) -> None:
    scripted.answer(
        "POST", "/subjects/accounts-value/versions", Answer(status, error(50001, "storage is read-only"))
    )
    with pytest.raises(SchemaRegistryUnavailable) as caught:
        client(scripted.url).register("accounts-value", V1)
    assert "failed to register a schema: storage is read-only" in str(caught.value)
    assert caught.value.context["status"] == status
    assert caught.value.context["url"] == scripted.url


def test_a_server_error_once_is_retried_and_the_registration_succeeds(scripted: ScriptedRegistry) -> None:
    scripted.answer(
        "POST",
        "/subjects/accounts-value/versions",
        Answer(503, error(50003, "leader election")),
        Answer(200, {"id": 42}),
    )
    assert client(scripted.url, retries=2).register("accounts-value", V1) == 42
    assert scripted.paths("POST", query=False) == ["/subjects/accounts-value/versions"] * 2


def test_a_conflict_on_register_is_an_incompatible_schema_with_the_registrys_reason(
    scripted: ScriptedRegistry,
) -> None:
    reason = (
        "Schema being registered is incompatible with an earlier schema: "
        "READER_FIELD_MISSING_DEFAULT_VALUE tier"
    )
    scripted.answer("POST", "/subjects/accounts-value/versions", Answer(409, error(409, reason)))
    with pytest.raises(IncompatibleSchema) as caught:
        client(scripted.url).register("accounts-value", V2)
    assert caught.value.messages == [reason]
    assert "tier" in str(caught.value)
    assert not isinstance(caught.value, SchemaRegistryUnavailable)


def test_an_invalid_schema_is_a_permanent_refusal_naming_the_status(scripted: ScriptedRegistry) -> None:
    scripted.answer("POST", "/subjects/accounts-value/versions", Answer(422, error(42201, "Invalid schema")))
    with pytest.raises(EventingError) as caught:
        client(scripted.url).register("accounts-value", V1)
    assert not isinstance(caught.value, (SchemaRegistryUnavailable, IncompatibleSchema))
    assert "refused to register a schema: Invalid schema" in str(caught.value)
    assert caught.value.context["status"] == 422


def test_an_unauthorised_client_is_told_so(scripted: ScriptedRegistry) -> None:
    scripted.answer("GET", "/schemas/ids/3", Answer(401, error(40101, "Unauthorized")))
    with pytest.raises(EventingError, match="refused to fetch a schema: Unauthorized") as caught:
        client(scripted.url).get_schema(3)
    assert caught.value.context == {"schema_id": 3, "status": 401}


# -- look-ups ---------------------------------------------------------------------------------


def test_lookup_of_an_unregistered_schema_is_none(scripted: ScriptedRegistry) -> None:
    scripted.answer("POST", "/subjects/accounts-value", Answer(404, error(40403, "Schema not found")))
    assert client(scripted.url).lookup("accounts-value", V1) is None


def test_lookup_of_an_unknown_subject_is_none(scripted: ScriptedRegistry) -> None:
    scripted.answer("POST", "/subjects/accounts-value", Answer(404, error(40401, "Subject not found")))
    assert client(scripted.url).lookup("accounts-value", V1) is None


def test_lookup_returns_the_registered_id(scripted: ScriptedRegistry) -> None:
    scripted.answer(
        "POST",
        "/subjects/accounts-value",
        Answer(200, {"subject": "accounts-value", "id": 17, "version": 2, "schema": V1}),
    )
    assert client(scripted.url).lookup("accounts-value", V1) == 17


def test_lookup_failing_otherwise_is_not_taken_for_absent(scripted: ScriptedRegistry) -> None:
    scripted.answer("POST", "/subjects/accounts-value", Answer(500, error(50001, "database down")))
    with pytest.raises(SchemaRegistryUnavailable, match="database down"):
        client(scripted.url).lookup("accounts-value", V1)


def test_an_unknown_schema_id_is_an_error_naming_the_id(scripted: ScriptedRegistry) -> None:
    scripted.answer("GET", "/schemas/ids/99", Answer(404, error(40403, "Schema 99 not found")))
    with pytest.raises(EventingError) as caught:
        client(scripted.url).get_schema(99)
    assert caught.value.context == {"schema_id": 99, "status": 404}


def test_a_fetched_schema_is_cached_by_id(scripted: ScriptedRegistry) -> None:
    scripted.answer("GET", "/schemas/ids/5", Answer(200, {"schema": V1}))
    registry = client(scripted.url)
    assert json.loads(registry.get_schema(5)) == json.loads(V1)
    assert json.loads(registry.get_schema(5)) == json.loads(V1)
    assert scripted.paths("GET", query=False).count("/schemas/ids/5") == 1


def test_set_compatibility_sends_the_level_for_the_subject(scripted: ScriptedRegistry) -> None:
    scripted.answer("PUT", "/config/accounts-value", Answer(200, {"compatibility": "FULL"}))
    client(scripted.url).set_compatibility("accounts-value", "FULL")
    (request,) = [r for r in scripted.requests if r[0] == "PUT"]
    assert request[2] == {"compatibility": "FULL"}


# -- the compatibility gate -------------------------------------------------------------------

COMPAT = "/compatibility/subjects/accounts-value/versions/latest"


def test_a_subject_without_versions_accepts_anything(scripted: ScriptedRegistry) -> None:
    scripted.answer("POST", COMPAT, Answer(404, error(40401, "Subject not found")))
    assert client(scripted.url).compatibility_problems("accounts-value", V2) == []


def test_a_compatible_schema_has_no_problems_and_is_asked_verbosely(scripted: ScriptedRegistry) -> None:
    scripted.answer("POST", COMPAT, Answer(200, {"is_compatible": True}))
    assert client(scripted.url).compatibility_problems("accounts-value", V1) == []
    ((_, path, body),) = scripted.requests
    assert path == COMPAT + "?verbose=true"
    assert body == {"schema": V1, "schemaType": "AVRO"}


def test_the_registrys_own_reasons_are_returned(scripted: ScriptedRegistry) -> None:
    reasons = ["READER_FIELD_MISSING_DEFAULT_VALUE: tier", "at /fields/1"]
    scripted.answer("POST", COMPAT, Answer(200, {"is_compatible": False, "messages": reasons}))
    assert client(scripted.url).compatibility_problems("accounts-value", V2) == reasons


def test_without_reasons_from_the_registry_the_field_is_named_locally(scripted: ScriptedRegistry) -> None:
    # Apicurio's Confluent API answers a bare {"is_compatible": false}.
    scripted.answer("POST", COMPAT, Answer(200, {"is_compatible": False}))
    scripted.answer(
        "GET",
        "/subjects/accounts-value/versions/latest",
        Answer(200, {"subject": "accounts-value", "id": 1, "version": 1, "schema": V1}),
    )
    scripted.answer("GET", "/config/accounts-value", Answer(200, {"compatibilityLevel": "BACKWARD"}))
    (problem,) = client(scripted.url).compatibility_problems("accounts-value", V2)
    assert "tier" in problem


def test_without_reasons_and_without_the_latest_version_the_verdict_still_stands(
    scripted: ScriptedRegistry,
) -> None:
    scripted.answer("POST", COMPAT, Answer(200, {"is_compatible": False}))
    scripted.answer("GET", "/subjects/accounts-value/versions/latest", Answer(500, error(50001, "boom")))
    assert client(scripted.url).compatibility_problems("accounts-value", V2) == [
        "incompatible (the registry gave no details)"
    ]


def test_a_refused_compatibility_check_names_the_status_and_the_body(scripted: ScriptedRegistry) -> None:
    scripted.answer("POST", COMPAT, Answer(422, error(42201, "Invalid schema")))
    with pytest.raises(EventingError, match=r"HTTP 422 .*Invalid schema") as caught:
        client(scripted.url).compatibility_problems("accounts-value", V1)
    assert not isinstance(caught.value, SchemaRegistryUnavailable)


@pytest.mark.parametrize("status", [500, 503])
def test_a_compatibility_check_failing_on_the_server_is_unavailable(
    scripted: ScriptedRegistry, status: int
) -> None:
    # A registry restarting during a deploy must read as "retry later", not as a refusal.
    scripted.answer("POST", COMPAT, Answer(status, error(50001, "storage unavailable")))
    with pytest.raises(SchemaRegistryUnavailable, match=f"HTTP {status}") as caught:
        client(scripted.url).compatibility_problems("accounts-value", V1)
    assert caught.value.context["subject"] == "accounts-value"


def test_a_subject_with_reserved_characters_is_quoted_in_the_path(scripted: ScriptedRegistry) -> None:
    scripted.answer(
        "POST", "/compatibility/subjects/a%2Fb%20c/versions/latest", Answer(200, {"is_compatible": True})
    )
    assert client(scripted.url).compatibility_problems("a/b c", V1) == []
    assert scripted.paths() == ["/compatibility/subjects/a%2Fb%20c/versions/latest?verbose=true"]


def test_a_trailing_slash_in_the_url_is_ignored(scripted: ScriptedRegistry) -> None:
    scripted.answer("POST", COMPAT, Answer(200, {"is_compatible": True}))
    registry = client(scripted.url + "/")
    assert registry.url == scripted.url
    assert registry.compatibility_problems("accounts-value", V1) == []
    assert scripted.paths() == [COMPAT + "?verbose=true"]
