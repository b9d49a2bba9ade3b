"""Services are discovered from their own folders: adding one touches nothing outside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.discovery import Service, discover
from stack.errors import StackError
from stack.services import SERVICES, components
from stack.settings import PORTS, Settings

pytestmark = pytest.mark.unit


def project(root: Path, name: str, stack_table: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n\n{stack_table}')


def test_the_repository_services_describe_themselves() -> None:
    assert [
        (s.name, s.database, s.port, s.consumer_group, s.consumer_metrics_port, s.connectors)
        for s in SERVICES
    ] == [
        ("customers", "customer", 8001, None, None, True),
        ("orders", "orders", 8002, "orders.translator", 9102, True),
        ("points", "points", 8003, "points.read-model", 9103, False),
    ]


def test_a_fourth_service_folder_is_a_component_with_its_ports_and_database(tmp_path: Path) -> None:
    project(
        tmp_path,
        "loyalty",
        '[tool.stack]\ndatabase = "loyalty"\nport = 8004\n\n'
        '[tool.stack.consumer]\ngroup = "loyalty.tiers"\nmetrics_port = 9104\n',
    )
    project(tmp_path, "notes", "")  # a folder without [tool.stack] is not a service
    (loyalty,) = discover(tmp_path)
    assert loyalty == Service("loyalty", "loyalty", 8004, "loyalty.tiers", 9104, connectors=False)
    assert loyalty.settings_module == "loyalty_site.settings"
    assert loyalty.env_prefix == "LOYALTY"


def test_the_stack_runs_what_the_services_declare() -> None:
    names = [c.name for c in components(Settings.from_env({}))]
    assert names == [
        "customers",
        "customers-supervisor",
        "orders",
        "orders-consumer",
        "orders-supervisor",
        "points",
        "points-consumer",
    ]
    assert PORTS["orders-consumer"].env_var == "ORDERS_CONSUMER_METRICS_PORT"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[tool.stack]\nport = 8004\n", "database must be"),
        ('[tool.stack]\ndatabase = "x"\nport = "8004"\n', "port must be a port number"),
        ('[tool.stack]\ndatabase = "x"\nport = 8004\nconsumers = 1\n', "unknown keys consumers"),
        ('[tool.stack]\ndatabase = "x"\nport = 8004\n[tool.stack.consumer]\ngroup = ""\n', "consumer.group"),
        ('[tool.stack]\ndatabase = "x"\nport = 8004\n[tool.stack.consumer]\ngroup = "g"\n', "metrics_port"),
        ("[tool.stack\n", "cannot read it"),
    ],
)
def test_a_bad_description_names_its_file_and_the_fix(tmp_path: Path, table: str, message: str) -> None:
    project(tmp_path, "broken", table)
    with pytest.raises(StackError, match=message) as raised:
        discover(tmp_path)
    assert "broken/pyproject.toml" in str(raised.value)


def test_two_services_on_one_port_are_refused(tmp_path: Path) -> None:
    project(tmp_path, "a", '[tool.stack]\ndatabase = "a"\nport = 8004\n')
    project(tmp_path, "b", '[tool.stack]\ndatabase = "b"\nport = 8004\n')
    with pytest.raises(StackError, match="port 8004"):
        discover(tmp_path)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[tool]\nstack = "yes"\n', "must be a table"),
        (
            '[tool.stack]\ndatabase = "x"\nport = 8004\nconnectors = "yes"\n',
            "connectors must be true or false",
        ),
        ('[tool.stack]\ndatabase = "x"\nport = 0\n', "port must be a port number"),
        ('[tool.stack]\ndatabase = "x"\nport = 70000\n', "port must be a port number"),
        ('[tool.stack]\ndatabase = "x"\nport = true\n', "port must be a port number"),
        ('[tool.stack]\ndatabase = ""\nport = 8004\n', "database must be"),
        ('[tool.stack]\ndatabase = "x"\nport = 8004\nconsumer = "g"\n', "takes group and metrics_port"),
        (
            '[tool.stack]\ndatabase = "x"\nport = 8004\n'
            '[tool.stack.consumer]\ngroup = "g"\nmetrics_port = 1\nreplicas = 2\n',
            "takes group and metrics_port",
        ),
        (
            '[tool.stack]\ndatabase = "x"\nport = 8004\n'
            '[tool.stack.consumer]\ngroup = "g"\nmetrics_port = "9104"\n',
            "consumer.metrics_port must be a port number",
        ),
    ],
)
def test_more_bad_descriptions_name_their_file(tmp_path: Path, table: str, message: str) -> None:
    project(tmp_path, "broken", table)

    with pytest.raises(StackError) as raised:
        discover(tmp_path)

    assert str(raised.value).startswith(f"{tmp_path / 'broken' / 'pyproject.toml'} [tool.stack]: ")
    assert message in str(raised.value)


def test_the_error_lists_every_unknown_key_and_the_known_ones(tmp_path: Path) -> None:
    project(tmp_path, "typo", '[tool.stack]\ndatabase = "x"\nport = 8004\nprot = 1\ndb = "y"\n')

    with pytest.raises(StackError) as raised:
        discover(tmp_path)

    assert str(raised.value).endswith("unknown keys db, prot (known: database, port, connectors, consumer)")


def test_services_are_discovered_in_name_order_and_other_folders_are_skipped(tmp_path: Path) -> None:
    project(tmp_path, "zeta", '[tool.stack]\ndatabase = "z"\nport = 8010\n')
    project(tmp_path, "alpha", '[tool.stack]\ndatabase = "a"\nport = 8011\nconnectors = true\n')
    (tmp_path / "docs").mkdir()  # no pyproject.toml
    (tmp_path / "README.md").write_text("not a folder")

    found = discover(tmp_path)

    assert [(s.name, s.connectors) for s in found] == [("alpha", True), ("zeta", False)]


def test_no_services_folder_means_no_services(tmp_path: Path) -> None:
    assert discover(tmp_path / "missing") == ()


def test_a_consumer_metrics_port_clashing_with_a_web_port_is_refused(tmp_path: Path) -> None:
    project(tmp_path, "a", '[tool.stack]\ndatabase = "a"\nport = 8004\n')
    project(
        tmp_path,
        "b",
        '[tool.stack]\ndatabase = "b"\nport = 8005\n'
        '[tool.stack.consumer]\ngroup = "b.g"\nmetrics_port = 8004\n',
    )

    with pytest.raises(StackError) as raised:
        discover(tmp_path)

    assert str(raised.value) == "services/b: port 8004 of b consumer is also a's"


def test_two_services_may_share_a_database(tmp_path: Path) -> None:
    project(tmp_path, "a", '[tool.stack]\ndatabase = "shared"\nport = 8004\n')
    project(tmp_path, "b", '[tool.stack]\ndatabase = "shared"\nport = 8005\n')

    assert [s.database for s in discover(tmp_path)] == ["shared", "shared"]


def test_a_hyphenated_service_name_gives_an_underscored_variable_prefix() -> None:
    service = Service("gift-cards", "gift_cards", 8006)

    assert service.env_prefix == "GIFT_CARDS"
    assert service.directory.name == "gift-cards"
