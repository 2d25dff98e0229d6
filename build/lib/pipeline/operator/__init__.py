"""The operator surface: the ``scangrade`` CLI and what it shows.

Commands split by area (``cli``), the live screens and status lines (``screens``, ``live``,
``plan_view``, ``check_view``), the teachers' report (``report``), the analysts' export
(``export``) and the scanner-share watcher (``watch``). It calls stages and reads the
domain; nothing below it imports it.
"""
