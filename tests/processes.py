"""Real server processes for tests: start `multibot` (or any command) in a subprocess with a
clean environment, wait for /health, and always stop it again.

Usage in a test module::

    @pytest.fixture
    def servers(tmp_path: Path) -> Iterator[ServerPool]:
        with ServerPool(tmp_path) as pool:
            yield pool

    def test_something(servers: ServerPool) -> None:
        server = servers.start()  # `multibot serve` on a free port, healthy on return
        httpx.get(f"{server.base_url}/health")
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx
import redis

from core_server.core.settings import Settings
from tests.conftest import free_port

__all__ = [
    "MULTIBOT",
    "PYTHON",
    "REPO_ROOT",
    "ServerPool",
    "ServerProcess",
    "clean_env",
    "free_port",
    "run_cli",
    "server_env",
    "unique_prefix",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
PYTHON = str(BIN_DIR / "python")
MULTIBOT = str(BIN_DIR / "multibot")

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CLI_TIMEOUT = 60.0

TEST_SECRET_KEY = "process-test-secret-key-" + "s" * 32
TEST_JWT_SECRET = "process-test-jwt-secret-" + "t" * 32

# Every variable our settings read, plus the CLI's own; none of them may leak in from the
# environment pytest runs in, so a developer's shell or CI settings cannot change a test.
SETTINGS_VARIABLES = frozenset(
    {name.upper() for name in Settings.model_fields} | {"MULTIBOT_PASSWORD", "FORWARDED_ALLOW_IPS"}
)

_log_counter = itertools.count(1)


def clean_env(**variables: str | os.PathLike[str]) -> dict[str, str]:
    """os.environ without any of our settings variables, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update({name: str(value) for name, value in variables.items()})
    return env


def server_env(data_dir: Path, **variables: str | os.PathLike[str]) -> dict[str, str]:
    """A test server's environment: strong secrets, its own DATA_DIR and Redis key prefix."""
    defaults: dict[str, str | os.PathLike[str]] = {
        "ENVIRONMENT": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "JWT_SECRET": TEST_JWT_SECRET,
        "DATA_DIR": data_dir,
        "REDIS_PREFIX": unique_prefix(),
        "LOG_LEVEL": "INFO",
        # No demo bots and no embedded simulator unless a test asks: they would start real
        # freqtrade processes in every test that only needs a server.
        "DEMO_FLEET": "false",
        "SIMULATOR_ENABLED": "false",
        "BOT_PORT_RANGE_START": str(port := random.randrange(40_000, 60_000, 200)),
        "BOT_PORT_RANGE_END": str(port + 199),
    }
    return clean_env(**{**defaults, **variables})


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:16]}"


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = CLI_TIMEOUT,
    executable: str = MULTIBOT,
) -> subprocess.CompletedProcess[str]:
    """Run `multibot ARGS` (or another executable) to completion and capture its output."""
    return subprocess.run(  # noqa: S603 - our own entry point, arguments from the test
        [executable, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


class ServerExited(AssertionError):
    """The server process ended (or never answered) before it was healthy."""


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    _log_file: IO[bytes] | None = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def is_running(self) -> bool:
        return self.process.poll() is None

    def wait_healthy(self, timeout: float = START_TIMEOUT, path: str = "/health") -> None:
        """Poll `path` until it answers 200; fail with the server's log if it exits or hangs."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerExited(
                        f"server exited with code {self.process.returncode} before it was "
                        f"healthy; its output:\n{self.log()}"
                    )
                try:
                    response = client.get(path)
                except httpx.HTTPError as exc:
                    last_error = repr(exc)
                else:
                    if response.status_code == 200:
                        return
                    last_error = f"{response.status_code} {response.text[:200]}"
                time.sleep(0.2)
        raise ServerExited(
            f"{self.base_url}{path} not healthy after {timeout:.0f} s (last: {last_error}); "
            f"its output:\n{self.log()}"
        )

    def wait_exit(self, timeout: float = START_TIMEOUT) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL when it does not end in time. Safe to call twice."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def spawn(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    base_url: str,
    log_dir: Path,
) -> ServerProcess:
    """Start a process whose stdout and stderr go to a log file (a pipe could fill and block
    the server); it is not waited for."""
    log_path = log_dir / f"server-{next(_log_counter)}.log"
    log_file = open(log_path, "wb")  # closed by ServerProcess.stop
    try:
        process = subprocess.Popen(  # noqa: S603 - our own entry point, arguments from the test
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    except BaseException:
        log_file.close()
        raise
    return ServerProcess(process, base_url, log_path, log_file)


class ServerPool:
    """Starts server processes for one test and stops every one of them at the end."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.processes: list[ServerProcess] = []

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    def stop_all(self) -> None:
        errors: list[BaseException] = []
        for server in reversed(self.processes):
            try:
                server.stop()
            except BaseException as error:  # stop the others before re-raising
                errors.append(error)
        self.processes.clear()
        if errors:
            raise errors[0]

    def spawn(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        base_url: str,
        cwd: Path | None = None,
    ) -> ServerProcess:
        server = spawn(
            command, env=env, cwd=cwd or self.work_dir, base_url=base_url, log_dir=self.work_dir
        )
        self.processes.append(server)
        return server

    def spawn_serve(
        self,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> ServerProcess:
        """`multibot serve --host 127.0.0.1 --port PORT`, not waited for."""
        port = port or free_port()
        command = [MULTIBOT, "serve", "--host", "127.0.0.1", "--port", str(port), *extra_args]
        return self.spawn(command, env=env, base_url=f"http://127.0.0.1:{port}")

    def start(
        self,
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        timeout: float = START_TIMEOUT,
    ) -> ServerProcess:
        """`multibot serve` (by default on its own DATA_DIR under the work dir), healthy."""
        env = env if env is not None else server_env(self.work_dir / "data")
        server = self.spawn_serve(env, port=port, extra_args=extra_args)
        server.wait_healthy(timeout)
        return server


@contextmanager
def running_server(
    work_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = START_TIMEOUT,
) -> Iterator[ServerProcess]:
    """One healthy `multibot serve` for the length of a with-block."""
    with ServerPool(work_dir) as pool:
        yield pool.start(env, port=port, extra_args=extra_args, timeout=timeout)


class PrivateRedis:
    """A redis-server of this test's own, on its own port, that can die and come back."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable is not None, "redis-server is not installed"
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        """A real restart: the process ends and a new one starts on the same port, empty."""
        self.kill()
        self.start()
