"""The pure core: values in, decisions out. No files, sockets, SQL, environment or clock.

What Nova means, decided on plain records: PCI addresses (``address``), ``[pci]
device_spec`` entries and matching (``spec``, ``spec_address``, ``spec_fields``),
aliases (``alias``), flavor and port requests (``requests``), pools and their
NUMA fitting (``pools``, ``numa``, ``cpuset``), Nova's scheduling
(``schedule``), the 2013 label design (``legacy``, ``legacy_modern``), and the
shared vocabulary (``model``, ``errors``, ``codes``, ``layers``, ``config``).
Imports: the standard library's pure parts and pure data libraries only
(contracts §6); ``docs/architecture.md`` draws the layers.
"""
