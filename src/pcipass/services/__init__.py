"""Use cases: wire adapters (which read) to the core (which decides).

Front ends call these; they never print or exit. Each returns a report record
whose :func:`jsonview.to_json` is exactly the contract's JSON document:
``scan`` (with ``scanreport``, ``hostmatch``, ``workers``, ``progress``),
``configcheck``, ``flavorexplain``, ``schedule`` and ``doctor/`` (which builds
its document itself, with ``to_json``). Services hand
the core what it cannot make itself: a time-bounded regex matcher
(``regexbound``) and bounded CPU-set options (``cpusets``). No CLI library,
and no raw file IO (reads go through adapters).
"""
