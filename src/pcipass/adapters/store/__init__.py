"""The device store: hosts, their NUMA cells, devices, claims and the audit trail, in SQL.

One outside system, a relational database through SQLAlchemy 2: SQLite by default (one file in
the user's data directory, WAL on), PostgreSQL or MariaDB by URL. The schema is Alembic's
(``migrations/``), run in process with no ``alembic.ini``.

* :mod:`~pcipass.adapters.store.models`: the tables, as typed declarative models;
* :mod:`~pcipass.adapters.store.engine`: URLs, drivers, the SQLite default and its pragmas;
* :mod:`~pcipass.adapters.store.migrate`: ``db upgrade``, ``db status``, and the refusal of a
  database on an older revision;
* :mod:`~pcipass.adapters.store.hosts` and :mod:`~pcipass.adapters.store.devices`: reading
  and writing a host's state in one transaction (bound parameters only);
* :mod:`~pcipass.adapters.store.records`: what the store hands back (plain records).
"""
