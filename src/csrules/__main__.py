"""`python -m csrules`: the same as the `csrules` command."""

from .cli.main import entry

entry()
