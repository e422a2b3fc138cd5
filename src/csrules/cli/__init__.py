"""The `csrules` command line: main.py parses arguments and maps errors to exit codes."""
