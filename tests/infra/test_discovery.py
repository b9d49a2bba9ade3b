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
