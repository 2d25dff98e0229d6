"""The review app's accounts: add, list, disable, sign in, and the classes each one sees.

An admin sees and grades every class; a teacher the classes given when the account was added
(``user_classes``). Accounts are disabled, never deleted: their overrides name them. The
callers own the session (and its transaction); errors are :class:`~pipeline.errors.
RequestRefused` kinds, raised before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import SchoolClass, User, UserClass
from pipeline.adapters.db.review_tables import ROLES
from pipeline.adapters.passwords import hash_password, needs_rehash, verify_nobody, verify_password
from pipeline.errors import BadAccount, DuplicateUsername, UnknownClass, UnknownUser

ADMIN, TEACHER = ROLES


@dataclass(frozen=True)
class Account:
    """An account as ``scangrade users list`` shows it."""

    username: str
    role: str
    classes: tuple[str, ...]  # a teacher's, by name; empty for an admin (who sees all)
    created_at: datetime
    disabled_at: datetime | None


def add_user(
    session: Session, username: str, password: str, role: str, class_names: Iterable[str]
) -> User:
    """A new account; a teacher sees the classes named (every one must exist)."""
    names = sorted(set(class_names))
    _check_account(username, password, role, names)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise DuplicateUsername(f"a user named {username!r} exists already")
    class_ids = _class_ids(session, names)
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as e:  # added by someone else since the check above
        raise DuplicateUsername(f"a user named {username!r} exists already") from e
    session.add_all(UserClass(user_id=user.id, class_id=class_id) for class_id in class_ids)
    session.flush()
    return user


def _check_account(username: str, password: str, role: str, class_names: list[str]) -> None:
    if not username.strip() or username != username.strip():
        raise BadAccount(f"username {username!r}: give a name without leading or trailing spaces")
    if not password:
        raise BadAccount("the password may not be empty")
    if role not in ROLES:
        raise BadAccount(f"role {role!r}: one of {', '.join(ROLES)}")
    if role == ADMIN and class_names:
        raise BadAccount("an admin sees every class: give classes to teachers only")


def _class_ids(session: Session, names: list[str]) -> list[int]:
    found = dict(
        session.execute(
            select(SchoolClass.name, SchoolClass.id).where(SchoolClass.name.in_(names))
        ).all()
    )
    unknown = [name for name in names if name not in found]
    if unknown:
        raise UnknownClass(f"no class named {', '.join(map(repr, unknown))}")
    return [found[name] for name in names]


def list_users(session: Session) -> list[Account]:
    """Every account, by username, with a teacher's classes."""
    classes = func.array_remove(func.array_agg(SchoolClass.name.distinct()), None)
    rows = session.execute(
        select(User.username, User.role, classes, User.created_at, User.disabled_at)
        .outerjoin(UserClass, UserClass.user_id == User.id)
        .outerjoin(SchoolClass, SchoolClass.id == UserClass.class_id)
        .group_by(User.id)
        .order_by(User.username)
    )
    return [
        Account(username, role, tuple(sorted(names)), created_at, disabled_at)
        for username, role, names, created_at, disabled_at in rows
    ]


def find_user(session: Session, username: str) -> User:
    """The account named ``username``, disabled or not."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UnknownUser(f"no user named {username!r}")
    return user


def disable_user(session: Session, username: str) -> User:
    """Disable an account: it can no longer sign in or grade; its overrides stay."""
    user = find_user(session, username)
    session.execute(
        update(User)
        .where(User.id == user.id, User.disabled_at.is_(None))
        .values(disabled_at=func.now())
    )
    session.refresh(user)
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active account with that username and password; None otherwise, whatever is wrong.

    An unknown name, a wrong password and a disabled account take the same time and give
    the same None. A hash made with older parameters is replaced on success.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_nobody(password)
        return None
    if not verify_password(user.password_hash, password) or user.disabled_at is not None:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def visible_class_ids(session: Session, user: User) -> frozenset[int]:
    """The classes ``user`` may see and grade: every class for an admin, a teacher's own."""
    if user.role == ADMIN:
        return frozenset(session.scalars(select(SchoolClass.id)))
    return frozenset(
        session.scalars(select(UserClass.class_id).where(UserClass.user_id == user.id))
    )
