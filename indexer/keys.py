"""API keys of a data directory: created once and shown once, stored only as salted scrypt hashes (keys.sqlite3).

A key reads `isk_<id>_<secret>`: the id finds its row without trying every stored hash, the secret is checked
against that row's scrypt hash in constant time. Scopes: `read` (search, ask, articles) and `write` (also
POST, PUT and DELETE of articles).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from indexer.errors import IsnadError

KEYS_FILE = "keys.sqlite3"
SCOPES = ("read", "write")
PREFIX = "isk"
# scrypt cost: n=2**14, r=8 (16 MiB, tens of milliseconds) - the parameters the scrypt paper gives for
# interactive logins. A verified key is remembered (by a SHA-256 of it) so requests do not pay this each time.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
LAST_USED_EVERY_SECONDS = 60.0  # `last used` is written at most this often per key
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_KEY = re.compile(rf"{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{20,100}})")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    salt BLOB NOT NULL,
    hash BLOB NOT NULL,
    created TEXT NOT NULL,
    last_used TEXT
);
"""


class ApiKeyError(IsnadError, ValueError):
    """A key name that is taken, malformed or unknown, or a scope that does not exist."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    scope: str
    created: str
    last_used: str | None = None

    def allows(self, scope: str) -> bool:
        return self.scope == "write" or scope == self.scope


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        secret.encode("ascii"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN
    )


class KeyStore:
    """The keys table of one data directory; safe to share between threads."""

    def __init__(self, data_dir: str | Path):
        self.path = Path(data_dir) / KEYS_FILE
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._verified: dict[str, bytes] = {}  # key id -> SHA-256 of the full key last verified for it
        self._last_used: dict[str, float] = {}

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        return self._db

    def create(self, scope: str, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key and its secret text, which is not stored and cannot be shown again."""
        if scope not in SCOPES:
            raise ApiKeyError(f"unknown scope {scope!r}; valid scopes: {', '.join(SCOPES)}")
        key_id = secrets.token_hex(6)
        name = name or f"key-{key_id}"
        if not _NAME.fullmatch(name):
            raise ApiKeyError(
                f"key name {name!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        created = _now()
        with self._lock:
            try:
                self._connection().execute(
                    "INSERT INTO api_keys (name, key_id, scope, salt, hash, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (name, key_id, scope, salt, _hash(secret, salt), created),
                )
            except sqlite3.IntegrityError:
                raise ApiKeyError(
                    f"a key named {name!r} exists already; revoke it first or choose another name"
                ) from None
        return ApiKey(name, scope, created), f"{PREFIX}_{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        with self._lock:
            if not self.path.exists():
                return []
            rows = (
                self._connection()
                .execute("SELECT name, scope, created, last_used FROM api_keys ORDER BY created, name")
                .fetchall()
            )
        return [ApiKey(*row) for row in rows]

    def revoke(self, name: str) -> None:
        with self._lock:
            cursor = self._connection().execute("DELETE FROM api_keys WHERE name = ?", (name,))
        if not cursor.rowcount:
            known = ", ".join(key.name for key in self.list()) or "none"
            raise ApiKeyError(f"no key named {name!r}; keys: {known}")

    def existing_id(self, presented: str) -> str | None:
        """The id of the stored key `presented` names, without checking its secret (cheap: for rate limits)."""
        match = _KEY.fullmatch(presented)
        if match is None:
            return None
        with self._lock:
            if not self.path.exists():
                return None
            row = (
                self._connection()
                .execute("SELECT key_id FROM api_keys WHERE key_id = ?", (match.group(1),))
                .fetchone()
            )
        return row[0] if row else None

    def verify(self, presented: str) -> ApiKey | None:
        """The key `presented` is, or None when it is malformed, unknown or revoked."""
        match = _KEY.fullmatch(presented)
        if match is None:
            return None
        key_id, secret = match.groups()
        with self._lock:
            if not self.path.exists():
                return None
            row = (
                self._connection()
                .execute(
                    "SELECT name, scope, created, last_used, salt, hash FROM api_keys WHERE key_id = ?",
                    (key_id,),
                )
                .fetchone()
            )
        if row is None:  # revoked since it was last seen, or never made
            self._verified.pop(key_id, None)
            return None
        name, scope, created, last_used, salt, stored = row
        fingerprint = hashlib.sha256(presented.encode("ascii")).digest()
        remembered = self._verified.get(key_id)
        if remembered is None or not hmac.compare_digest(remembered, fingerprint):
            if not hmac.compare_digest(_hash(secret, salt), stored):
                return None
            self._verified[key_id] = fingerprint
        self._touch(key_id)
        return ApiKey(name, scope, created, last_used)

    def _touch(self, key_id: str) -> None:
        now = time.monotonic()
        if now - self._last_used.get(key_id, -LAST_USED_EVERY_SECONDS) < LAST_USED_EVERY_SECONDS:
            return
        self._last_used[key_id] = now
        with self._lock:
            self._connection().execute("UPDATE api_keys SET last_used = ? WHERE key_id = ?", (_now(), key_id))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
