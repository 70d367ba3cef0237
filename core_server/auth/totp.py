"""TOTP (RFC 6238) codes and one-time recovery codes."""

from __future__ import annotations

import hmac
import secrets
import time

import pyotp
import segno

ISSUER = "Freqtrade Multi-Bot"
STEP_SECONDS = 30
# One step either side forgives a phone clock that is up to 30 s off.
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    uri: str = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    return uri


def qr_svg_data_uri(uri: str) -> str:
    data_uri: str = segno.make(uri, error="m").svg_data_uri(scale=4)
    return data_uri


def matching_step(
    secret: str, code: str, *, after_step: int | None, now: float | None = None
) -> int | None:
    """The time step the code belongs to, if it is valid and newer than `after_step` (a code
    already used cannot be replayed within its window)."""
    code = code.replace(" ", "")
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    raw = code.strip().lower().replace("-", "").replace(" ", "")
    return f"{raw[:5]}-{raw[5:]}"
