"""Passwords, tokens and secrets at rest."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a token kind, not a secret

_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown user as slow as one with a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _hash(password: str) -> str:
    return _hasher.hash(password)


def _verify(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# Argon2 is slow on purpose (~0.1 s); in a thread it does not stall every other request.
async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    return await asyncio.to_thread(_verify, password, password_hash)


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def token_digest(token: str) -> str:
    """SHA-256 of a high-entropy token (refresh tokens, API keys): fast to look up, useless if
    the table leaks."""
    return hashlib.sha256(token.encode()).hexdigest()


def digests_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


class TokenError(Exception):
    """An access token that is malformed, forged, of the wrong algorithm or expired."""


def encode_access_token(
    secret: str, *, subject: str, session_id: str, minutes: int, extra: dict[str, Any] | None = None
) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=minutes)
    claims = {
        "sub": subject,
        "sid": session_id,
        "typ": ACCESS_TOKEN_TYPE,
        "iat": now,
        "exp": expires,
        "jti": secrets.token_hex(8),
        **(extra or {}),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), expires


def decode_access_token(secret: str, token: str) -> dict[str, Any]:
    try:
        # Naming the one algorithm we sign with refuses `alg: none` and algorithm confusion.
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "sid", "exp", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("The access token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("The access token is not valid.") from exc
    if claims.get("typ") != ACCESS_TOKEN_TYPE:
        raise TokenError("The token is not an access token.")
    return claims


class SecretBox:
    """Authenticated encryption for secrets at rest (TOTP seeds, exchange keys, bot passwords).

    The key is derived from SECRET_KEY with HKDF, and every value is bound to a context string
    (such as ``users:42:totp``): a ciphertext copied into another row does not decrypt there.
    """

    def __init__(self, secret_key: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"freqtrade-multibot/secret-box/v1",
            info=b"fernet",
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    @staticmethod
    def _bind(context: str, plaintext: str) -> bytes:
        return f"{len(context)}:{context}|{plaintext}".encode()

    def encrypt(self, plaintext: str, *, context: str) -> str:
        return self._fernet.encrypt(self._bind(context, plaintext)).decode()

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        try:
            data = self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("the secret cannot be decrypted with this SECRET_KEY") from exc
        prefix = self._bind(context, "").decode()
        if not data.startswith(prefix):
            raise ValueError("the secret belongs to another record")
        return data.removeprefix(prefix)


class Keys:
    """The server's keys, derived once from the settings at start-up."""

    def __init__(self, *, jwt_secret: str, secret_key: str) -> None:
        self.jwt_secret = jwt_secret
        self.box = SecretBox(secret_key)
        self._code_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"freqtrade-multibot/codes/v1", info=b"hmac"
        ).derive(secret_key.encode())

    def code_digest(self, code: str) -> str:
        """A keyed digest for short one-time codes (MFA recovery codes)."""
        return hmac.new(self._code_key, code.encode(), hashlib.sha256).hexdigest()
