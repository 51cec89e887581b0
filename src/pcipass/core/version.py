"""pcipass's version: the one place it is written (pyproject.toml reads it from here).

facts.json records it, and a file written by another version is not used
(contracts §1); the SARIF output names it.
"""

VERSION = "0.1.0"
