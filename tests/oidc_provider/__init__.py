"""A real OpenID Connect provider for the single sign-on tests (tests/test_oidc.py):
django-oauth-toolkit's provider in a small Django project of its own, run as a separate process
on 127.0.0.1 with its own SQLite database. Never part of the product (django-oauth-toolkit is in
requirements-dev.txt only).

    python -m tests.oidc_provider.manage oidc_serve --port 8765   # migrate, then serve
    python -m tests.oidc_provider.manage oidc_setup '{"clients": [...], "users": [...]}'

Environment: OIDC_PROVIDER_DB (the SQLite file, required), OIDC_PROVIDER_ISSUER (the issuer it
names, "http://127.0.0.1:<port>/o"). Its RSA signing key is made when the process starts. The
ID token carries "groups" (the user's groups) and email_verified (membership of the group
EMAIL_VERIFIED_GROUP, which is not itself listed).
"""
