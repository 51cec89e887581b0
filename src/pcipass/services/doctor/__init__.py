"""The doctor's use case: read hosts and files into facts, run the pure checks, build the document.

The checks themselves, their records and the runner live in :mod:`pcipass.doctor`,
which imports only the core; everything that reads lives here.

* :mod:`~pcipass.services.doctor.gather`: the lazy fact sources, one per host and one per run;
* :mod:`~pcipass.services.doctor.hostfiles`: the doctor's own reads of a host root
  (default route, root disk, boot-time files);
* :mod:`~pcipass.services.doctor.scanfacts`: scan results reshaped into fact records;
* :mod:`~pcipass.services.doctor.flavors`: flavor and image files as requests, and their fit;
* :mod:`~pcipass.services.doctor.report`: gather, run the checks, and the ``pcipass-doctor/1`` document.
"""
