"""Readiness probes against servers the test starts on free ports (and ports nobody listens on)."""

from __future__ import annotations

import time

import pytest

from stack import probes
from stack.probes import (
    AllProbes,
    HttpProbe,
    KafkaProbe,
    NotReady,
    PostgresProbe,
    TcpProbe,
    check,
    http_get,
    http_json,
    wait_until_ready,
)
from tests.infra.fakes import free_port, http_server, listening

pytestmark = pytest.mark.unit


class TestTcpProbe:
    def test_ready_when_something_accepts(self) -> None:
        with listening() as server:
            port = server.getsockname()[1]
            assert check(TcpProbe("127.0.0.1", port)) is None

    def test_not_ready_names_the_address_and_the_reason(self) -> None:
        port = free_port()

        reason = check(TcpProbe("127.0.0.1", port, timeout=0.5))

        assert reason == f"127.0.0.1:{port}: Connection refused"

    def test_raises_not_ready(self) -> None:
        with pytest.raises(NotReady, match="Connection refused"):
            TcpProbe("127.0.0.1", free_port(), timeout=0.5)()


class TestHttpProbe:
    def test_ready_on_200(self) -> None:
        with http_server({"/health/": (200, "ok")}) as url:
            assert check(HttpProbe(f"{url}/health/")) is None

    def test_a_server_error_is_reported_with_its_status(self) -> None:
        with http_server({"/health/": (503, "database down")}) as url:
            reason = check(HttpProbe(f"{url}/health/"))

        assert reason == f"{url}/health/ answered 503"

    def test_a_missing_path_is_a_404(self) -> None:
        with http_server({}) as url:
            assert check(HttpProbe(f"{url}/nothing")) == f"{url}/nothing answered 404"

    def test_contains_waits_for_the_body_to_list_it(self) -> None:
        routes = {"/connector-plugins": (200, '[{"class": "org.apache.kafka.FileStreamSource"}]')}
        with http_server(routes) as url:
            probe = HttpProbe(f"{url}/connector-plugins", contains="PostgresConnector")
            assert check(probe) == f"{url}/connector-plugins does not list PostgresConnector yet"

            routes["/connector-plugins"] = (200, '[{"class": "io.debezium...PostgresConnector"}]')
            assert check(probe) is None

    def test_nothing_listening_is_not_ready_with_the_url(self) -> None:
        url = f"http://127.0.0.1:{free_port()}/health/"

        reason = check(HttpProbe(url, timeout=0.5))

        assert reason is not None
        assert reason.startswith(f"{url}: ")
        assert "Connection refused" in reason

    def test_a_server_that_never_answers_times_out_clearly(self) -> None:
        # accepts the connection (backlog) but never sends a byte
        with listening() as silent:
            url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
            began = time.monotonic()
            reason = check(HttpProbe(url, timeout=0.5))

        assert time.monotonic() - began < 5
        assert reason is not None
        assert reason.startswith(url)
        assert "timed out" in reason


class TestHttpHelpers:
    def test_http_get_returns_the_body(self) -> None:
        with http_server({"/x": (200, "hello")}) as url:
            assert http_get(f"{url}/x") == "hello"

    def test_http_json_decodes(self) -> None:
        with http_server({"/info": (200, '{"version": "3.3.3"}')}) as url:
            assert http_json(f"{url}/info") == {"version": "3.3.3"}

    def test_http_json_of_a_non_json_body_is_not_ready(self) -> None:
        with http_server({"/info": (200, "<html>proxy error</html>")}) as url:
            url += "/info"
            with pytest.raises(NotReady, match="did not answer JSON"):
                http_json(url)

    def test_http_json_of_an_error_status_is_not_ready(self) -> None:
        with http_server({"/info": (500, "{}")}) as url:
            url += "/info"
            with pytest.raises(NotReady, match="answered 500"):
                http_json(url)


class TestAllProbes:
    def test_ready_when_all_are(self) -> None:
        with listening() as a, listening() as b:
            probe = AllProbes(
                [TcpProbe("127.0.0.1", a.getsockname()[1]), TcpProbe("127.0.0.1", b.getsockname()[1])]
            )
            assert check(probe) is None

    def test_the_first_failing_probe_gives_the_reason_and_later_ones_are_not_run(self) -> None:
        ran: list[str] = []

        def first() -> None:
            ran.append("first")

        def second() -> None:
            ran.append("second")
            raise NotReady("second is not ready")

        def third() -> None:
            ran.append("third")

        assert check(AllProbes([first, second, third])) == "second is not ready"
        assert ran == ["first", "second"]

    def test_no_probes_is_ready(self) -> None:
        assert check(AllProbes([])) is None


class TestPostgresAndKafkaProbes:
    """Against ports nobody listens on: the reason is one line the user can read."""

    def test_postgres_not_listening(self) -> None:
        port = free_port()
        probe = PostgresProbe(f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=2")

        reason = check(probe)

        assert reason is not None
        assert "\n" not in reason
        assert str(port) in reason

    def test_postgres_speaking_something_else(self) -> None:
        with http_server({}) as url:
            port = url.rsplit(":", 1)[1]
            reason = check(PostgresProbe(f"host=127.0.0.1 port={port} user=postgres connect_timeout=2"))

        assert reason is not None
        assert "\n" not in reason

    def test_kafka_not_listening(self) -> None:
        servers = f"127.0.0.1:{free_port()}"

        began = time.monotonic()
        reason = check(KafkaProbe(servers, timeout=1.0))

        assert time.monotonic() - began < 10
        assert reason is not None
        assert reason.startswith(f"{servers}: ")


class TestWaitUntilReady:
    def test_returns_none_as_soon_as_ready(self) -> None:
        attempts: list[int] = []

        def probe() -> None:
            attempts.append(1)
            if len(attempts) < 3:
                raise NotReady(f"attempt {len(attempts)}")

        assert wait_until_ready(probe, timeout=30) is None
        assert len(attempts) == 3

    def test_a_passed_deadline_returns_the_last_reason(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(probes, "POLL_INTERVAL", 0.05)
        attempts: list[int] = []

        def probe() -> None:
            attempts.append(1)
            raise NotReady(f"attempt {len(attempts)}")

        began = time.monotonic()
        reason = wait_until_ready(probe, timeout=0.3)

        assert 0.3 <= time.monotonic() - began < 5
        assert reason == f"attempt {len(attempts)}"
        assert len(attempts) > 1

    def test_a_dead_process_ends_the_wait_early(self) -> None:
        def probe() -> None:
            raise NotReady("connection refused")

        began = time.monotonic()
        reason = wait_until_ready(probe, timeout=60, still_alive=lambda: False)

        assert time.monotonic() - began < 5
        assert reason == "process exited (connection refused)"

    def test_a_ready_probe_does_not_ask_whether_the_process_lives(self) -> None:
        def alive() -> bool:
            raise AssertionError("not needed")

        assert wait_until_ready(lambda: None, timeout=1, still_alive=alive) is None

    def test_a_real_server_starting_late_is_waited_for(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(probes, "POLL_INTERVAL", 0.05)
        port = free_port()
        calls: list[int] = []
        import socket

        server = socket.socket()

        def probe() -> None:
            calls.append(1)
            if len(calls) == 3:  # the "server" comes up between two attempts
                server.bind(("127.0.0.1", port))
                server.listen()
            TcpProbe("127.0.0.1", port, timeout=0.5)()

        try:
            assert wait_until_ready(probe, timeout=30) is None
        finally:
            server.close()
        assert len(calls) == 3

    def test_other_exceptions_are_bugs_and_propagate(self) -> None:
        def probe() -> None:
            raise ValueError("a bug in a probe")

        with pytest.raises(ValueError, match="a bug"):
            wait_until_ready(probe, timeout=1)
