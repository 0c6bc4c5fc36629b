"""The running parts: PostgreSQL, PostgREST and Caddy as local processes (or Docker Compose), and their lifecycle.

Nothing here knows about recipes, migrations or the course; those rooms build on this one.
"""
