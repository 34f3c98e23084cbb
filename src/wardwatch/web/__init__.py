"""The web application: REST API under ``/api/v1`` and server-rendered pages (issue 7).

:func:`wardwatch.web.app.create_app` builds the ASGI app; ``wardwatch serve`` runs it with uvicorn.
The edge holds no domain logic: it calls the store's repositories, :mod:`wardwatch.services`
and :mod:`wardwatch.auth`, and renders what they return.
"""
