"""The database adapter: models, sessions, states and guarded transitions."""

from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError

#: Errors of a database that is restarting or unreachable: retry, the work is not at fault.
DB_UNAVAILABLE = (OperationalError, InterfaceError)
