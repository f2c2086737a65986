"""The web application: server-rendered pages served by the same Starlette app.

Pages are clients of the GraphQL schema (``operations.py`` holds every operation they
run, ``gateway.py`` runs them in process as the signed-in user); sign-in is OIDC
authorization code with PKCE at the organisation's own issuer (``signin.py``), with the
development issuer's endpoints outside production (``devsignin.py``).
"""
