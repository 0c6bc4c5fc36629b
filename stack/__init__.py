"""SuperStack's JWT-auth stack: start it, migrate it, talk to it.

The Makefile, the notebooks and the tests all use this package; nothing is written twice.
"""

from .errors import StackError

__all__ = ["StackError"]
