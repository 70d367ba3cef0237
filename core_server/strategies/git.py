"""Fetching strategy files from a git repository with the `git` program.

A repository URL is a request to connect somewhere on a user's behalf, so it goes through the
outbound policy (core/net_guard.py) and git is held to what was checked: only the protocols
allowed here, no redirects, the host pinned to the address just checked (no second lookup to
rebind), no submodules, no hooks, no symlinks checked out (a link to /etc/passwd would otherwise
be read as a strategy file), no prompts, and a time limit on the whole clone. A token reaches git
through GIT_ASKPASS from the environment: never in the command line, the URL or a log line.

Local repositories (`file://`) are for development and tests only: in production they, plain
http:// (a token would travel in clear) and loopback addresses are refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
import signal
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from core_server.core.net_guard import OutboundPolicy, UrlNotAllowed
from core_server.core.settings import Settings
from core_server.freqtrade.commands import kill_group
from core_server.strategies.errors import GitFailed
from core_server.strategies.parameters import CodeError, parse, strategy_class_names

GIT_LIMIT_SECONDS = 120.0
MAX_REPOSITORY_FILES = 500
MAX_FILE_BYTES = 256 * 1024
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]{1,200}(?<![./])$")
_PATH_PART = re.compile(r"^[\w.\- ]{1,100}$")
_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "x-access-token" ;;
  *) printf '%s\\n' "$MULTIBOT_GIT_TOKEN" ;;
esac
"""


def check_branch(branch: str) -> str:
    branch = branch.strip()
    if not _BRANCH.match(branch):
        raise ValueError("not a branch name git accepts (letters, digits, . _ / -)")
    return branch


def check_path(path: str) -> str:
    """A folder inside the repository, as a relative POSIX path ('' for the top)."""
    path = path.strip().strip("/")
    if not path:
        return ""
    parts = PurePosixPath(path).parts
    if any(part in (".", "..") or not _PATH_PART.match(part) for part in parts):
        raise ValueError("must be a folder inside the repository, like 'user_data/strategies'")
    return "/".join(parts)


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    scheme: str
    # For http(s): the host and the address git must use for it.
    host: str | None = None
    port: int | None = None
    address: str | None = None


class GitAccess:
    """Which repository URLs may be fetched, by the settings and the outbound policy."""

    def __init__(self, policy: OutboundPolicy, *, production: bool) -> None:
        self.policy = policy
        self.production = production

    @classmethod
    def for_settings(cls, settings: Settings, policy: OutboundPolicy) -> GitAccess:
        return cls(policy, production=settings.is_production)

    async def check(self, url: str) -> CheckedUrl:
        url = url.strip()
        if not url or any(ord(c) < 32 or c == "\x7f" for c in url) or url.startswith("-"):
            raise UrlNotAllowed("That is not a repository URL.")
        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError as exc:
            raise UrlNotAllowed("That is not a repository URL.") from exc
        if scheme == "file":
            return self._local(url)
        if scheme not in ("https", "http"):
            raise UrlNotAllowed(
                "Use an https:// URL for the repository "
                "(ssh, git://, scp-style and other transports are not allowed)."
            )
        if scheme == "http" and self.production:
            raise UrlNotAllowed("Use https:// (a token would travel in clear over http://).")
        _, host, port = self.policy.parse(url)
        addresses = await self.policy.resolve(host, port)
        if self.production and any(_loopback(a) for a in addresses):
            raise UrlNotAllowed(
                f"'{host}' is this machine: repositories are not fetched from loopback addresses.",
                details={"host": host},
            )
        return CheckedUrl(url, scheme, host, port, str(addresses[0]))

    def _local(self, url: str) -> CheckedUrl:
        if self.production:
            raise UrlNotAllowed("Local repositories (file://) are not allowed on this server.")
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise UrlNotAllowed("A local repository URL looks like file:///absolute/path.")
        if not Path(parts.path).is_dir():
            raise UrlNotAllowed(f"There is no repository at {parts.path}.")
        return CheckedUrl(url, "file")


def _loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@dataclass(frozen=True)
class Clone:
    root: Path
    commit: str


def _config(checked: CheckedUrl) -> list[str]:
    allowed = {"https"} | ({checked.scheme} if checked.scheme in ("http", "file") else set())
    options = [
        "protocol.allow=never",
        *(f"protocol.{name}.allow=always" for name in sorted(allowed)),
        "http.followRedirects=false",
        "core.symlinks=false",
        "core.hooksPath=/dev/null",
        "credential.helper=",
        "submodule.recurse=false",
    ]
    if checked.host and checked.address:
        address = f"[{checked.address}]" if ":" in checked.address else checked.address
        options.append(f"http.curloptResolve={checked.host}:{checked.port}:{address}")
    return [arg for option in options for arg in ("-c", option)]


async def _git(
    args: list[str], env: dict[str, str], limit_seconds: float, secret: str | None
) -> tuple[int, str]:
    git = shutil.which("git")
    if git is None:
        raise GitFailed("git is not installed on this server.")
    process = await asyncio.create_subprocess_exec(
        git,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), limit_seconds)
    except TimeoutError:
        kill_group(process.pid, signal.SIGKILL)
        await process.communicate()
        raise GitFailed(
            f"git did not finish fetching the repository within {limit_seconds:.0f} s."
        ) from None
    except asyncio.CancelledError:
        kill_group(process.pid, signal.SIGKILL)
        raise
    text = output.decode(errors="replace")
    if secret:
        text = text.replace(secret, "***")
    return process.returncode or 0, text.strip()


async def clone(
    checked: CheckedUrl,
    branch: str,
    token: str | None,
    workdir: Path,
    *,
    limit_seconds: float = GIT_LIMIT_SECONDS,
) -> Clone:
    """A shallow clone of one branch into `workdir`/repo, which the caller removes."""
    home = workdir / "home"
    await asyncio.to_thread(home.mkdir, parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_LFS_SKIP_SMUDGE": "1",
    }
    if token:
        askpass = workdir / "askpass.sh"
        await asyncio.to_thread(askpass.write_text, _ASKPASS)
        askpass.chmod(stat.S_IRWXU)
        env |= {"GIT_ASKPASS": str(askpass), "MULTIBOT_GIT_TOKEN": token}
    target = workdir / "repo"
    code, output = await _git(
        [
            *_config(checked),
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--single-branch",
            "--no-tags",
            "--branch",
            branch,
            "--",
            checked.url,
            str(target),
        ],
        env,
        limit_seconds,
        token,
    )
    if code != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        reason = (lines or [f"git exited with status {code}"])[-1][:500]
        raise GitFailed(
            f"git could not fetch the repository: {reason}",
            details={"fields": [{"field": "url", "message": reason}]},
        )
    code, commit = await _git(["-C", str(target), "rev-parse", "HEAD"], env, 30, token)
    return Clone(target, commit.strip()[:64] if code == 0 else "")


@dataclass(frozen=True)
class RepositoryFile:
    """A .py file of the repository: its strategy classes, or why it cannot be used."""

    path: str
    code: str | None
    classes: tuple[str, ...]
    error: str | None = None


def strategy_files(root: Path, folder: str) -> tuple[list[RepositoryFile], bool]:
    """The Python files under `folder` that hold strategy classes or fail to parse (others are
    helpers and are left out), and whether the scan stopped at MAX_REPOSITORY_FILES."""
    base = (root / folder).resolve() if folder else root.resolve()
    if not base.is_relative_to(root.resolve()) or not base.is_dir():
        raise GitFailed(
            f"The repository has no folder '{folder}'.",
            details={"fields": [{"field": "path", "message": "no such folder in the branch"}]},
        )
    found: list[RepositoryFile] = []
    scanned = 0
    for directory, subdirs, files in os.walk(base, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith((".", "__")))
        for name in sorted(files):
            path = Path(directory) / name
            if not name.endswith(".py") or path.is_symlink() or not path.is_file():
                continue
            scanned += 1
            if scanned > MAX_REPOSITORY_FILES:
                return found, True
            relative = path.relative_to(root.resolve()).as_posix()
            found.extend(_read(path, relative))
    return found, False


def _read(path: Path, relative: str) -> list[RepositoryFile]:
    if path.stat().st_size > MAX_FILE_BYTES:
        return [RepositoryFile(relative, None, (), f"larger than {MAX_FILE_BYTES // 1024} KiB")]
    try:
        code = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return [RepositoryFile(relative, None, (), "not UTF-8 text")]
    if "\x00" in code:
        return [RepositoryFile(relative, None, (), "contains NUL characters")]
    try:
        classes = strategy_class_names(parse(code, relative))
    except CodeError as exc:
        return [RepositoryFile(relative, None, (), str(exc))]
    return [RepositoryFile(relative, code, tuple(classes))] if classes else []
