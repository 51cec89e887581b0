"""The ``pcipass`` command line: the only code that prints or exits.

``main`` (the group, exit codes, lazy subcommands), one ``commands_*`` module per
command, ``output`` (formats, and the one console that escapes user strings),
``doctor_formats`` (SARIF, JUnit) and ``stopping`` (SIGINT/SIGTERM/SIGHUP).
"""
