"""The database adapter: models, sessions, states and guarded transitions.

Also the review app's accounts (``accounts``) and the teachers' grade overrides
(``overrides``).
"""

from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError

from pipeline.errors import DatabaseUnavailable

#: Errors of a database that refuses connections, is restarting or unreachable: retry, the
#: work is not at fault.
DB_UNAVAILABLE = (DatabaseUnavailable, OperationalError, InterfaceError)
