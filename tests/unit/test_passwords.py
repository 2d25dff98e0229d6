"""Password hashes for the review app's accounts: argon2id, salted, never the password."""

from __future__ import annotations

from argon2 import PasswordHasher

from pipeline.adapters.passwords import hash_password, needs_rehash, verify_nobody, verify_password


def test_a_hash_is_argon2id_salted_and_verifies_only_its_password() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("$argon2id$") and "correct horse" not in first
    assert first != second  # a salt of its own
    assert verify_password(first, "correct horse") and verify_password(second, "correct horse")
    assert not verify_password(first, "correct Horse")
    assert not verify_password(first, "")


def test_a_broken_hash_verifies_nothing_and_wants_replacing() -> None:
    assert not verify_password("not a hash", "anything")
    assert not verify_password("$argon2id$v=19$m=1,t=1,p=1$broken", "anything")
    assert needs_rehash("not a hash")


def test_a_hash_made_with_other_parameters_wants_replacing() -> None:
    weaker = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    assert verify_password(weaker, "pw")
    assert needs_rehash(weaker)
    assert not needs_rehash(hash_password("pw"))


def test_nobody_has_any_password() -> None:
    assert verify_nobody("") is False
    assert verify_nobody("no account has this password") is False
