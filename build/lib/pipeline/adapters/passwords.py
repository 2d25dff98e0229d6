"""Password hashes for the review app's accounts: argon2id, through argon2-cffi.

A hash is a PHC string (``$argon2id$v=19$m=…,t=…,p=…$salt$hash``) that carries its own salt
and parameters, so hashes made with older parameters still verify, and :func:`needs_rehash`
says when to replace one. Verifying compares in constant time (the library's), and an unknown
username is checked against a hash of its own (:func:`verify_nobody`) so that a wrong name
costs the same time as a wrong password.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id, the library's defaults (RFC 9106's second profile)


def hash_password(password: str) -> str:
    """A new salted hash of ``password``, to store in ``users.password_hash``."""
    return _HASHER.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    """Whether ``password`` is the one ``hashed`` was made from; False for a broken hash."""
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """Whether ``hashed`` was made with other parameters than today's: hash it again."""
    try:
        return _HASHER.check_needs_rehash(hashed)
    except InvalidHashError:
        return True


@cache
def _nobody() -> str:
    return hash_password("no account has this password")


def verify_nobody(password: str) -> bool:
    """Spend the time a verification takes when no account has the name given; always False."""
    verify_password(_nobody(), password)
    return False
