"""The teachers' web app (``scangrade serve``): Starlette, Jinja2 templates, plain forms.

``app`` holds the routes and middleware, ``guard`` the sign-in and CSRF checks every route
goes through, ``access`` who sees which class, ``signin`` and ``throttle`` signing in,
``views`` the pages (reading a batch through the teachers' report's ``data``), ``grid`` a
class's student × question table, ``overlay`` the boxes drawn over a page, ``overrides`` a
teacher's corrections, ``secret`` the key that signs the session cookies. Templates and
assets are package data: the app fetches nothing from anywhere else.
"""

from __future__ import annotations

from pipeline.operator.web.app import create_app

__all__ = ["create_app"]
