"""The doctor: cross-check the layers of PCI passthrough and name the broken one.

Everything here is pure: it imports the core and nothing that reads (the
import-linter contracts in pyproject.toml hold it to that). Reading hosts and
files into facts is a service, :mod:`pcipass.services.doctor`.

* :mod:`pcipass.doctor.model`: findings, layers, severities and the fact types (pure data);
* :mod:`pcipass.doctor.registry`: the ``@check`` decorator and the table of checks;
* :mod:`pcipass.doctor.checks`: one small pure function per check;
* :mod:`pcipass.doctor.mapping`: device_spec / alias / flavor -> devices, near misses;
* :mod:`pcipass.doctor.runner`: inject facts, isolate crashes, select, exit code.
"""
