"""Local users, roles, sessions, API tokens, login rate limiting and the audit log (issue 7).

The web application and the ``wardwatch users``/``tokens`` commands both go through
:class:`wardwatch.auth.service.AuthService`; nothing else reads or writes the tables in
:mod:`wardwatch.store.schema_web`.
"""
