"""The doctor: cross-check the layers of PCI passthrough and name the broken one.

* :mod:`pcipass.doctor.model`: findings, layers, severities and the fact types (pure data);
* :mod:`pcipass.doctor.registry`: the ``@check`` decorator and the table of checks;
* :mod:`pcipass.doctor.checks`: one small pure function per check;
* :mod:`pcipass.doctor.gather`: the only part that reads hosts and files;
* :mod:`pcipass.doctor.mapping`: device_spec / alias / flavor -> devices, near misses;
* :mod:`pcipass.doctor.runner`: inject facts, isolate crashes, select, exit code.
"""
