"""Who is signed in, and which classes they may see.

A teacher sees the classes they are given (``user_classes``), and nothing of any other: not
its grid, its pages, their images, nor may they override a grade on one. An admin sees
every class, and the pages no class was matched to. A disabled user is nobody: their
sessions stop working at their next request.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from pipeline.adapters.db.accounts import ADMIN, authenticate, visible_class_ids
from pipeline.adapters.db.models import User


@dataclass(frozen=True)
class Viewer:
    """The signed-in user, as the pages need them."""

    user_id: int
    username: str
    admin: bool
    class_ids: frozenset[int]

    def sees(self, class_id: int | None) -> bool:
        """Whether the viewer may see a page of this class (None: no class matched)."""
        return self.admin or (class_id is not None and class_id in self.class_ids)


def load_viewer(session: Session, user_id: int) -> Viewer | None:
    """The user with this id, unless there is none or they are disabled."""
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None:
        return None
    return Viewer(
        user_id=user.id,
        username=user.username,
        admin=user.role == ADMIN,
        class_ids=frozenset(visible_class_ids(session, user)),
    )


def check_password(session: Session, username: str, password: str) -> int | None:
    """The id of the enabled user with this name and password, else None."""
    user = authenticate(session, username, password)
    if user is None or user.disabled_at is not None:
        return None
    return user.id
