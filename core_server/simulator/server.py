"""Running the simulator inside another asyncio program (the main server embeds it this way)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import TracebackType

import uvicorn

from core_server.simulator.app import Clock, create_simulator_app, wall_clock_ms
from core_server.simulator.config import SimulatorConfig


class _EmbeddedUvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The host process owns SIGINT and SIGTERM; it stops the simulator through stop().
        yield


class SimulatorServer:
    """The simulator as a uvicorn server in a task of the running event loop::

        async with SimulatorServer(config) as simulator:
            ...  # listening on simulator.base_url

    The socket listens before the task starts, so a taken port raises OSError from start()
    (uvicorn would call sys.exit inside the task), and port 0 picks a free port.
    """

    def __init__(
        self, config: SimulatorConfig, *, clock: Clock = wall_clock_ms, access_log: bool = False
    ) -> None:
        self.config = config
        self.app = create_simulator_app(config, clock=clock)
        # Bots poll prices every few seconds; an access log line each would drown the host's log.
        self._uvicorn = _EmbeddedUvicorn(
            uvicorn.Config(self.app, lifespan="off", log_config=None, access_log=access_log)
        )
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = config.port

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def start(self) -> None:
        """Listen, and return once the server accepts connections."""
        if self._task is not None:
            raise RuntimeError("the simulator is already running")
        self._socket = _bind(self.config.host, self.config.port)
        self.port = self._socket.getsockname()[1]
        self._task = asyncio.create_task(
            self._uvicorn.serve(sockets=[self._socket]), name="market-simulator"
        )
        while not self._uvicorn.started:
            if self._task.done():
                await self.stop()  # raises what ended the task
                raise RuntimeError("the market simulator stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop accepting, finish open requests, release the port. Safe to call twice."""
        task, self._task = self._task, None
        try:
            if task is not None:
                self._uvicorn.should_exit = True
                await task
        finally:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock
