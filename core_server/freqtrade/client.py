"""An async client for one freqtrade bot's REST API (`/api/v1`).

It logs in with HTTP Basic for a token pair, renews the access token with the refresh token
when it expires, and turns every failure into a `BotApiError` that says what went wrong
(unreachable, timed out, refused, or a garbled answer) instead of leaking httpx exceptions.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from core_server.freqtrade.schemas import (
    Balances,
    Daily,
    Logs,
    PerformanceEntry,
    Ping,
    Profit,
    ResultMsg,
    ShowConfig,
    StatusMsg,
    Trade,
    TradesPage,
)

M = TypeVar("M")
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


# `token=...` in a URL's query (the message websocket's address).
_TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"']+")


class BotApiError(Exception):
    """A bot's API could not answer. `kind` is one of: unreachable, timeout, refused,
    bad_response, error."""

    def __init__(self, kind: str, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status_code = status_code


class FreqtradeClient:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        http: httpx.AsyncClient | None = None,
        owns_http: bool = False,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = (username, password)
        # Redirects are never followed: a bot URL must not bounce us to another host.
        self._http = http or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        # A client made here, or handed over with `owns_http`, is closed with this one.
        self._owns_http = http is None or owns_http
        self._access_token: str | None = None
        self._refresh_token: str | None = None
        self._login_lock = asyncio.Lock()

    @property
    def access_token(self) -> str | None:
        return self._access_token

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> FreqtradeClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # --- transport ---------------------------------------------------------------------------

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.base_url}/api/v1{path}"
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise BotApiError("timeout", f"the bot did not answer {path} in time") from exc
        except httpx.HTTPError as exc:
            raise BotApiError("unreachable", f"cannot reach the bot: {type(exc).__name__}") from exc

    async def _login(self, stale: str | None = None) -> None:
        """Get a fresh access token, unless another task got one while we waited for the lock
        (the collector's sync and its websocket listener often find the token expired at once)."""
        async with self._login_lock:
            if self._access_token is not None and self._access_token != stale:
                return
            if self._refresh_token is not None:
                response = await self._send(
                    "POST",
                    "/token/refresh",
                    headers={"Authorization": f"Bearer {self._refresh_token}"},
                )
                if response.status_code == 200:
                    self._access_token = response.json().get("access_token")
                    return
            response = await self._send("POST", "/token/login", auth=self._auth)
            if response.status_code != 200:
                raise BotApiError(
                    "refused", "the bot refused our credentials", response.status_code
                )
            tokens = response.json()
            self._access_token = tokens.get("access_token")
            self._refresh_token = tokens.get("refresh_token")

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """An authenticated call; the JSON answer, or BotApiError."""
        if self._access_token is None:
            await self._login()
        response = await self._send(
            method, path, headers={"Authorization": f"Bearer {self._access_token}"}, **kwargs
        )
        if response.status_code == 401:
            stale, self._access_token = self._access_token, None
            await self._login(stale)
            response = await self._send(
                method, path, headers={"Authorization": f"Bearer {self._access_token}"}, **kwargs
            )
        if response.status_code >= 400:
            raise BotApiError("error", _error_detail(response), response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise BotApiError("bad_response", f"the bot answered {path} with non-JSON") from exc

    async def _typed(self, model: type[M] | Any, method: str, path: str, **kwargs: Any) -> M:
        data = await self.request(method, path, **kwargs)
        try:
            parsed: M = TypeAdapter(model).validate_python(data)
        except ValidationError as exc:
            raise BotApiError("bad_response", f"unexpected answer from {path}: {exc}") from exc
        return parsed

    # --- endpoints ---------------------------------------------------------------------------

    async def ping(self) -> Ping:
        response = await self._send("GET", "/ping")
        try:
            return Ping.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise BotApiError("bad_response", "the bot answered /ping with garbage") from exc

    async def show_config(self) -> ShowConfig:
        return await self._typed(ShowConfig, "GET", "/show_config")

    async def status(self) -> list[Trade]:
        return await self._typed(list[Trade], "GET", "/status")

    async def trades(self, *, limit: int = 50, offset: int = 0) -> TradesPage:
        return await self._typed(
            TradesPage, "GET", "/trades", params={"limit": limit, "offset": offset}
        )

    async def profit(self) -> Profit:
        return await self._typed(Profit, "GET", "/profit")

    async def balance(self) -> Balances:
        return await self._typed(Balances, "GET", "/balance")

    async def performance(self) -> list[PerformanceEntry]:
        return await self._typed(list[PerformanceEntry], "GET", "/performance")

    async def daily(self, timescale: int = 7) -> Daily:
        return await self._typed(Daily, "GET", "/daily", params={"timescale": timescale})

    async def logs(self, limit: int = 100) -> Logs:
        """The bot's log lines, with the tokens in logged URLs masked (freqtrade logs the
        message websocket's address, whose query carries our collector's token)."""
        logs: Logs = await self._typed(Logs, "GET", "/logs", params={"limit": limit})
        logs.logs = [
            [_TOKEN_IN_URL.sub(r"\1***", item) if isinstance(item, str) else item for item in line]
            for line in logs.logs
        ]
        return logs

    async def forceenter(self, payload: BaseModel) -> Trade:
        return await self._typed(
            Trade, "POST", "/forceenter", json=payload.model_dump(exclude_none=True)
        )

    async def forceexit(self, payload: BaseModel) -> ResultMsg:
        return await self._typed(
            ResultMsg, "POST", "/forceexit", json=payload.model_dump(exclude_none=True)
        )

    async def stopentry(self) -> StatusMsg:
        return await self._typed(StatusMsg, "POST", "/stopentry")

    async def start(self) -> StatusMsg:
        return await self._typed(StatusMsg, "POST", "/start")

    async def stop(self) -> StatusMsg:
        return await self._typed(StatusMsg, "POST", "/stop")

    async def reload_config(self) -> StatusMsg:
        return await self._typed(StatusMsg, "POST", "/reload_config")


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"the bot answered HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("detail", "error", "msg", "status"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return f"the bot answered HTTP {response.status_code}"
