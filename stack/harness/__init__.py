"""Test harnesses: a throw-away second stack, and the PostgREST conformance server and its database."""
