"""Use cases: wire adapters (which read) to the core (which decides).

Front ends call these; they never print or exit. Each returns a report object
with a ``to_dict()`` that is exactly the contract's JSON document.
"""
