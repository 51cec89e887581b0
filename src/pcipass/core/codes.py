"""Every problem code pcipass reports, with its meaning: one table (issue 11).

A problem code is the ``code`` of an Error object (``contracts.md`` §2, a
:class:`pcipass.core.errors.Problem`): Nova's exception class name where Nova
has one, oslo.config's where nova-* stops with an oslo.config error, and a
pcipass CamelCase name otherwise. Doctor findings have their own ids
(``PCI-K001``) and their own registry (``pcipass.doctor.registry``).

Placement keeps its codes in ``placement/errors.py``, one named constant per
code. This module is that list, plus what an operator needs to read a code:
its meaning, where the name comes from, whether it is an error or a warning
(where that is fixed), the layer it concerns and the input it is about.
Codes are produced in three ways, all checked by
``tests/unit/test_problem_codes.py``: :class:`~pcipass.core.errors.PcipassError`
subclasses (the class name), ``Problem(code, ...)`` constructions, and helpers
taking a ``code`` argument. A code used but not registered here fails that
test, and so does a registered code that nothing produces any more.

What a code is (:class:`Code`, its :class:`Origin`, :class:`Severity` and
:class:`Area`) is :mod:`pcipass.core.problemcode`; the table is one registry, so it
stays whole here, grouped by area. ``docs/problem-codes.md`` is :func:`markdown`'s
output (:mod:`pcipass.core.codesdoc`); regenerate it with::

    .venv/bin/python -c "from pcipass.core import codes; print(codes.markdown(), end='')" \\
        > docs/problem-codes.md

Pure data, standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pcipass.core import codesdoc
from pcipass.core.layers import Layer
# What a code is (:mod:`pcipass.core.problemcode`), named here too: ``codes.Area``, ``codes.Severity``.
from pcipass.core.problemcode import Area as Area
from pcipass.core.problemcode import Code as Code
from pcipass.core.problemcode import Origin as Origin
from pcipass.core.problemcode import Severity as Severity


# Short names for the table below.
NOVA, OSLO, OWN = Origin.NOVA, Origin.OSLO_CONFIG, Origin.PCIPASS
ERROR, WARNING = Severity.ERROR, Severity.WARNING
_A = Area

_TABLE: tuple[Code, ...] = (
    # -- config files ---------------------------------------------------------------------
    Code("ConfigFilesNotFoundError", "a config file given does not exist", _A.CONFIG_FILES, OSLO, ERROR),
    Code("ConfigDirNotFoundError", "a config dir given does not exist or is not a directory",
         _A.CONFIG_FILES, OSLO, ERROR),
    Code("ConfigFileIsDirectory", "a path given as a config file is a directory", _A.CONFIG_FILES, OWN, ERROR),
    Code("ConfigFilesPermissionDeniedError", "a config file cannot be read for lack of permission",
         _A.CONFIG_FILES, OSLO, ERROR),
    Code("ConfigFileUnreadable", "a config file cannot be read: not a regular file, too large, or an "
         "IO error", _A.CONFIG_FILES, OWN, ERROR),
    Code("ConfigFileDecodeError", "a config file is not UTF-8 text (the bad byte's line is given)",
         _A.CONFIG_FILES, OWN, ERROR),
    Code("ConfigFileParseError", "oslo.config cannot parse a config file's INI syntax", _A.CONFIG_FILES,
         OSLO, ERROR),
    Code("ConfigTooLarge", "a configuration passes a bound pcipass sets and Nova does not (100,000 "
         "lines, 10,000 entries of one option, 1,000 fragments of one document, 1 MiB of deployment "
         "YAML): refused before it "
         "is parsed, as pcipass cannot check it safely", _A.CONFIG_FILES, OWN, ERROR),
    Code("NotNovaConf", "a file given as nova.conf is another kind of document (YAML, Markdown, "
         "JSON...); the nova.conf fragments it embeds are checked one by one", _A.CONFIG_FILES, OWN, ERROR),
    Code("NoPciOptions", "the files set no PCI option at all ([pci] device_spec or alias, "
         "pci_in_placement, pci_weight_multiplier)", _A.CONFIG_FILES, OWN, WARNING, Layer.DEVICE_SPEC),
    # -- option names, values and references ----------------------------------------------
    Code("ConfigFileValueError", "oslo.config's type refuses an option's value (a boolean that is not "
         "one, a negative multiplier...)", _A.OPTIONS, OSLO, ERROR),
    Code("RepeatedOption", "an option is set more than once in one file: only the last line counts",
         _A.OPTIONS, OWN, WARNING),
    Code("MixedOptionNames", "an option is set under its current and its deprecated names at once; "
         "oslo.config merges them", _A.OPTIONS, OWN, WARNING),
    Code("DeprecatedOption", "an option is set under a deprecated name (Nova's own deprecation "
         "message)", _A.OPTIONS, OWN, WARNING),
    Code("RemovedOption", "an option Nova no longer reads: it is ignored", _A.OPTIONS, OWN, WARNING),
    Code("MisplacedOption", "a known option in a section where Nova does not read it (or [default] "
         "in lower case): it is ignored", _A.OPTIONS, OWN, WARNING),
    Code("UnknownOption", "a name that is no Nova option in a section pcipass knows (typo "
         "suggested): it is ignored", _A.OPTIONS, OWN, WARNING),
    Code("ConfusableCharacter", "a section or option name has a non-ASCII character drawn like an "
         "ASCII one, so oslo.config reads another name", _A.OPTIONS, OWN, ERROR),
    Code("UnresolvedInterpolation", "a $reference names an option whose value pcipass cannot know "
         "(a default, the machine's hostname); read as empty", _A.OPTIONS, OWN, WARNING),
    Code("TemplateSubstitutionError", "$references loop, nest too deep or expand too far: oslo.config "
         "cannot substitute them", _A.OPTIONS, OSLO, ERROR),
    Code("NoSuchOptError", "a $reference names an option that does not exist, so the service stops at "
         "start", _A.OPTIONS, OSLO, ERROR),
    # -- [pci] device_spec ----------------------------------------------------------------
    Code("PciConfigInvalidSpec", "a device_spec value Nova refuses (bad JSON, key, value or "
         "combination): nova-compute does not start", _A.DEVICE_SPEC, NOVA, ERROR, Layer.DEVICE_SPEC),
    Code("PciDeviceWrongAddressFormat", "a device address that is not dddd:bb:ss.f (a device_spec "
         "address Nova cannot parse, or any address pcipass is given)", _A.DEVICE_SPEC, NOVA,
         ERROR, Layer.DEVICE_SPEC),
    Code("PciDeviceInvalidDeviceName", "a device_spec sets both devname and address", _A.DEVICE_SPEC,
         NOVA, ERROR, Layer.DEVICE_SPEC),
    Code("PciDeviceRemoteManagedNotPresent", "a remote_managed device_spec names a netdev that is not on "
         "the host", _A.DEVICE_SPEC, NOVA, ERROR, Layer.DEVICE_SPEC),
    Code("PciDeviceInvalidPFRemoteManaged", "remote_managed is set on a PF (only VFs can be remote "
         "managed)", _A.DEVICE_SPEC, NOVA, ERROR, Layer.DEVICE_SPEC),
    Code("PciDeviceNotFoundById", "a device Nova looks up in sysfs while parsing the device_spec is "
         "missing", _A.DEVICE_SPEC, NOVA, ERROR, Layer.DEVICE_SPEC),
    Code("SpecRegexTimeout", "matching a regex address against a device did not finish within the "
         "time bound (Nova would hang): the entry is rejected", _A.DEVICE_SPEC, OWN, ERROR,
         Layer.DEVICE_SPEC),
    Code("SpecRegexTooLarge", "a regex address pattern is too large to compile and match within the "
         "bounds", _A.DEVICE_SPEC, OWN, ERROR, Layer.DEVICE_SPEC),
    Code("SpecRegexBacktracking", "a regex address nests quantifiers: Nova's match can backtrack for "
         "minutes per device", _A.DEVICE_SPEC, OWN, WARNING, Layer.DEVICE_SPEC),
    Code("SuspiciousTag", "an unknown device_spec tag looks like a typo of a known one "
         "(physical_netwrok)", _A.DEVICE_SPEC, OWN, WARNING, Layer.DEVICE_SPEC),
    Code("SpecNotChecked", "part of a device_spec can only be checked on its compute host, which was "
         "not given", _A.DEVICE_SPEC, OWN, WARNING, Layer.DEVICE_SPEC),
    Code("DevnameNotPresent", "a devname device_spec names no netdev of the host: it matches nothing",
         _A.DEVICE_SPEC, OWN, WARNING, Layer.DEVICE_SPEC),
    Code("SpecNeverMatches", "a device_spec Nova accepts but that can never match a device (negative "
         "ids or address fields)", _A.DEVICE_SPEC, OWN, WARNING, Layer.DEVICE_SPEC),
    # -- [pci] alias ----------------------------------------------------------------------
    Code("PciInvalidAlias", "an alias value or the alias table Nova refuses (bad JSON, key, value, "
         "conflicting duplicates)", _A.ALIAS, NOVA, ERROR, Layer.DEVICE_SPEC),
    Code("AliasNameUnusable", "an alias name with ',' or ':' (or empty) can never be requested by a "
         "flavor", _A.ALIAS, OWN, WARNING, Layer.DEVICE_SPEC),
    Code("AliasNeverMatches", "an alias sets capability_type, which no device pool has: it is never "
         "satisfied", _A.ALIAS, OWN, WARNING, Layer.DEVICE_SPEC),
    Code("AliasPlacementFieldsIgnored", "an alias sets resource_class or traits while "
         "pci_in_placement is off: they are ignored", _A.ALIAS, OWN, WARNING, Layer.PLACEMENT),
    # -- placement and CPU options --------------------------------------------------------
    Code("PciInPlacementWithoutReporting", "[filter_scheduler] pci_in_placement is on but [pci] "
         "report_in_placement is off: Placement has no PCI inventory", _A.OTHER_OPTIONS, OWN, WARNING,
         Layer.PLACEMENT),
    Code("PlacementPciException", "nova-compute fails to report PCI inventory to Placement: a "
         "devname device_spec with report_in_placement (a warning in config check), or, an error in "
         "placement show, that or a VF's one_time_use or a VF without its PF's address", _A.PLACEMENT, NOVA, None,
         Layer.PLACEMENT),
    Code("PlacementPciDependentDeviceException", "a PF and its VFs are both in [pci] device_spec: "
         "nova-compute reports no PCI inventory", _A.PLACEMENT, NOVA, ERROR, Layer.PLACEMENT),
    Code("PlacementPciMixedResourceClassException", "VFs of one PF with different resource "
         "classes: nova-compute reports no PCI inventory", _A.PLACEMENT, NOVA, ERROR, Layer.PLACEMENT),
    Code("PlacementPciMixedTraitsException", "VFs of one PF with different traits (or "
         "live_migratable): nova-compute reports no PCI inventory", _A.PLACEMENT, NOVA, ERROR,
         Layer.PLACEMENT),
    Code("PlacementPciTagNotText", "a device_spec resource_class or traits that is not a string: "
         "nova-compute fails with a bare AttributeError", _A.PLACEMENT, OWN, ERROR, Layer.PLACEMENT),
    Code("PlacementNameInvalid", "a resource class, trait or provider name Nova sends as it is "
         "and Placement refuses", _A.PLACEMENT, OWN, WARNING, Layer.PLACEMENT),
    Code("PlacementTraitNotStandard", "a device_spec trait or resource class that Nova turns into "
         "a name its writer did not mean (a standard trait in lower case, spaces kept)",
         _A.PLACEMENT, OWN, WARNING, Layer.PLACEMENT),
    Code("PciRequestMultipleSpecs", "a PCI request with several specs under pci_in_placement: the "
         "scheduler fails with a bare ValueError", _A.PLACEMENT, OWN, ERROR, Layer.PLACEMENT),
    Code("PlacementGroupPolicyMissing", "two or more numbered groups of the flavor's own and no "
         "group_policy: Placement refuses the query", _A.PLACEMENT, OWN, WARNING, Layer.PLACEMENT),
    Code("PlacementGroupPolicyIsolate", "group_policy=isolate with several PCI devices: each on a "
         "different provider, so never two VFs of one PF", _A.PLACEMENT, OWN, WARNING,
         Layer.PLACEMENT),
    Code("PlacementUnreachable", "nothing answered at the Placement URL (refused, timed out, "
         "not HTTP)", _A.PLACEMENT, OWN, ERROR),
    Code("PlacementApiError", "Placement answered, but not with something pcipass can use (an "
         "error status, a microversion below 1.14, not Placement's documents)", _A.PLACEMENT, OWN,
         ERROR),
    Code("PlacementConflict", "a provider kept changing under a write (its generation): the "
         "bounded retries ran out", _A.PLACEMENT, OWN, ERROR),
    Code("PlacementViewInvalid", "a placement-view file that is not the one placement export "
         "writes (the JSON path of the bad value is given)", _A.PLACEMENT, OWN, ERROR),
    Code("OsCloudInvalid", "the named cloud of clouds.yaml cannot be used: unknown, no Placement "
         "endpoint, or its auth failed", _A.PLACEMENT, OWN, ERROR),
    Code("PlacementTreeNotOwned", "a compute node's provider tree without the CUSTOM_PCIPASS_OWNED "
         "trait: Nova's own, which placement sync never changes", _A.PLACEMENT, OWN, ERROR,
         Layer.PLACEMENT),
    Code("PlacementProviderNotFound", "a claimed device's resource provider (<hypervisor "
         "hostname>_<ADDRESS>) is not in Placement: the claim cannot be mirrored there",
         _A.PLACEMENT, OWN, ERROR, Layer.PLACEMENT),
    Code("PlacementOverAllocated", "after a claim was written to Placement, a provider's usage "
         "exceeds (total - reserved) * allocation_ratio", _A.PLACEMENT, OWN, ERROR,
         Layer.PLACEMENT),
    Code("InvalidCpuSet", "a CPU set option (cpu_dedicated_set, cpu_shared_set...) Nova's "
         "parse_cpu_spec refuses", _A.OTHER_OPTIONS, OWN, ERROR, Layer.NUMA),
    # -- the 2013 label design ------------------------------------------------------------
    Code("PciDeviceInvalidConfig", "a [DEFAULT] pci_passthrough_devices value that does not parse "
         "(named after the 2013 design's exception)", _A.LEGACY, OWN, ERROR, Layer.DEVICE_SPEC),
    Code("DeprecatedLegacyPciConfig", "the 2013 label design is used ([DEFAULT] "
         "pci_passthrough_devices, or a flavor's pci_passthrough:labels): current Nova ignores it",
         _A.LEGACY, OWN, WARNING, Layer.DEVICE_SPEC),
    Code("LegacyLabelCollision", "two labels become the same resource class or alias name in the "
         "modern config", _A.LEGACY, OWN, WARNING, Layer.DEVICE_SPEC),
    Code("LegacyLabelNotOffered", "a flavor asks for a label that no host's devices carry",
         _A.LEGACY, OWN, WARNING, Layer.FLAVOR),
    # -- flavor and image files -----------------------------------------------------------
    Code("InputFileNotFound", "a flavor or image file given does not exist", _A.FLAVOR_FILES, OWN, ERROR),
    Code("InputFileIsDirectory", "a path given as a flavor or image file is a directory",
         _A.FLAVOR_FILES, OWN, ERROR),
    Code("InputFileUnreadable", "a flavor or image file cannot be read", _A.FLAVOR_FILES, OWN, ERROR),
    Code("InputFileDecodeError", "a flavor or image file is not UTF-8 text", _A.FLAVOR_FILES, OWN, ERROR),
    Code("InvalidJson", "a flavor or image file is not valid JSON (YAML and tables are recognised)",
         _A.FLAVOR_FILES, OWN, ERROR),
    Code("JsonTooComplex", "a flavor or image file is JSON beyond pcipass's bounds (nesting, number "
         "size)", _A.FLAVOR_FILES, OWN, ERROR),
    Code("InvalidFlavorFile", "the JSON is not a flavor object, or holds several flavors where one is "
         "expected", _A.FLAVOR_FILES, OWN, ERROR, Layer.FLAVOR),
    Code("InvalidFlavorField", "a flavor's vcpus, ram or disk is not an integer Nova stores",
         _A.FLAVOR_FILES, OWN, ERROR, Layer.FLAVOR),
    Code("InvalidFlavorProperties", "a flavor's properties (extra specs) are neither an object nor a "
         "readable properties string", _A.FLAVOR_FILES, OWN, ERROR, Layer.FLAVOR),
    Code("InvalidImageFile", "the JSON is not an image object", _A.FLAVOR_FILES, OWN, ERROR, Layer.FLAVOR),
    Code("InvalidImageProperties", "an image's properties string cannot be read", _A.FLAVOR_FILES, OWN,
         ERROR, Layer.FLAVOR),
    # -- flavor extra specs and image properties ------------------------------------------
    Code("PciRequestAliasNotDefined", "a flavor's pci_passthrough:alias names an alias the nova.conf "
         "files do not define (the closest one is suggested)", _A.FLAVOR, NOVA, ERROR, Layer.FLAVOR),
    Code("InvalidAliasRequest", "a pci_passthrough:alias value Nova crashes on or rejects (not "
         "<alias>:<count>,...)", _A.FLAVOR, OWN, ERROR, Layer.FLAVOR),
    Code("InvalidExtraSpec", "an extra spec or image property with a value Nova cannot use (not a "
         "string, not a number...)", _A.FLAVOR, OWN, ERROR, Layer.FLAVOR),
    Code("ValidationError", "Nova's API (microversion 2.86 and later) refuses the extra spec's value; "
         "a warning, as older clients stored it unchecked, and an error when the API is played strictly",
         _A.FLAVOR, NOVA, None, Layer.FLAVOR),
    Code("InvalidRequest", "an image property of the wrong type (Nova API's message)", _A.FLAVOR, NOVA,
         ERROR, Layer.FLAVOR),
    Code("FlavorExtraSpecTypo", "a flavor extra spec Nova does not know, one edit from one it "
         "knows (hw:cpu_polcy): Nova ignores it", _A.FLAVOR, OWN, WARNING, Layer.FLAVOR),
    Code("PciRequestCountNotPositive", "pci_passthrough:alias asks for 0 devices (or fewer): Nova "
         "accepts it and gives nothing", _A.FLAVOR, OWN, WARNING, Layer.FLAVOR),
    Code("InvalidPCINUMAAffinity", "a PCI NUMA affinity policy that is not one of Nova's",
         _A.FLAVOR, NOVA, ERROR, Layer.NUMA),
    Code("ImagePCINUMAPolicyForbidden", "the image's PCI NUMA policy tries to override the flavor's",
         _A.FLAVOR, NOVA, ERROR, Layer.NUMA),
    Code("InvalidNUMANodesNumber", "hw:numa_nodes is not a number greater than 0", _A.FLAVOR, NOVA,
         ERROR, Layer.NUMA),
    Code("ImageNUMATopologyForbidden", "an image NUMA property tries to override the flavor's NUMA "
         "configuration", _A.FLAVOR, NOVA, ERROR, Layer.NUMA),
    Code("InvalidCPUAllocationPolicy", "a CPU policy (hw:cpu_policy, hw_cpu_policy) that is not one of "
         "Nova's", _A.FLAVOR, NOVA, ERROR, Layer.NUMA),
    Code("ImageCPUPinningForbidden", "the image's hw_cpu_policy tries to override the flavor's CPU "
         "pinning", _A.FLAVOR, NOVA, ERROR, Layer.NUMA),
    Code("ImageNUMATopologyAsymmetric", "the instance's CPUs or memory do not split evenly over its "
         "NUMA nodes", _A.FLAVOR, NOVA, ERROR, Layer.NUMA),
    Code("UnsupportedTopology", "an instance NUMA layout pcipass does not model (the mixed CPU "
         "policy), or pinned host nodes that are repeated", _A.FLAVOR, OWN, ERROR, Layer.NUMA),
    # -- scheduling -----------------------------------------------------------------------
    Code("InstanceNumaNodesMismatch", "the host nodes the instance is pinned to (what if) disagree "
         "with the flavor's hw:numa_nodes", _A.SCHEDULE, OWN, ERROR, Layer.NUMA),
    Code("InvalidPortRequest", "a port request that is not vnic_type=...,physnet=... as a Neutron "
         "SR-IOV port", _A.SCHEDULE, OWN, ERROR, Layer.NEUTRON),
    Code("PciFilterDisabled", "PciPassthroughFilter is not enabled: the scheduler ignores the PCI "
         "request and the claim fails on the compute", _A.SCHEDULE, OWN, WARNING, Layer.SCHEDULER),
    Code("NumaFilterDisabled", "NUMATopologyFilter is not enabled while the flavor has hw:numa_nodes",
         _A.SCHEDULE, OWN, WARNING, Layer.SCHEDULER),
    Code("AliasesFromCompute", "no controller config given: the aliases are a compute host's, and "
         "nova-api must define the same", _A.SCHEDULE, OWN, WARNING, Layer.DEVICE_SPEC),
    Code("AliasDiffersBetweenServices", "an alias is defined differently in the compute's nova.conf and "
         "the controller's: each service reads its own table, and flavors' requests are made from the "
         "controller's", _A.ALIAS, OWN, ERROR, Layer.DEVICE_SPEC),
    Code("SchedulerHostFilterNotFound", "[filter_scheduler] enabled_filters names a filter Nova 34 does "
         "not have (removed in an earlier release, or misspelled): nova-scheduler stops at start",
         _A.SCHEDULE, NOVA, ERROR, Layer.SCHEDULER),
    Code("SchedulerClassNotFound", "[filter_scheduler] available_filters or weight_classes names a "
         "nova.* class or module Nova 34 does not have: the import fails and nova-scheduler stops at "
         "start", _A.SCHEDULE, OWN, ERROR, Layer.SCHEDULER),
    Code("UnverifiedSchedulerClass", "a scheduler filter or weigher pcipass cannot verify: "
         "available_filters or weight_classes loads modules other than Nova's", _A.SCHEDULE, OWN,
         WARNING, Layer.SCHEDULER),
    # -- Neutron SR-IOV agent config ------------------------------------------------------
    Code("SriovAgentConfigInvalid", "a [sriov_nic] item the agent refuses (mappings, excluded devices, "
         "bandwidths)", _A.SRIOV_AGENT, OWN, ERROR, Layer.NEUTRON),
    Code("NoDeviceMappings", "the agent config has no physical_device_mappings: it binds no SR-IOV "
         "port", _A.SRIOV_AGENT, OWN, WARNING, Layer.NEUTRON),
    Code("ExcludedDeviceNotAnAddress", "an excluded device is not a full PCI address, so it excludes "
         "nothing", _A.SRIOV_AGENT, OWN, WARNING, Layer.NEUTRON),
    # -- hosts ----------------------------------------------------------------------------
    Code("HostRootInvalid", "a host given is not a usable host root or bundle (no sys/bus/pci, "
         "unsafe or too large)", _A.HOSTS, OWN, ERROR),
    Code("NoComputeConfig", "a host has no compute config (nova.conf): no device is assignable",
         _A.HOSTS, OWN, WARNING, Layer.DEVICE_SPEC),
    Code("KernelPasteInvalid", "a saved kernel log or command line file cannot be read or holds "
         "neither", _A.HOSTS, OWN, ERROR),
    Code("PasteJoinAmbiguous", "a saved kernel log or command line file named after none of several "
         "hosts: its host cannot be told (a usage error, exit 64)", _A.HOSTS, OWN, ERROR),
    Code("NodedevInputInvalid", "a virsh nodedev file cannot be read or describes no PCI device",
         _A.HOSTS, OWN, ERROR),
    Code("NodedevBadXml", "a <device> document of a nodedev paste is not well-formed, never ends or is "
         "too large: it is skipped", _A.HOSTS, OWN, WARNING),
    Code("NodedevBadDevice", "a PCI <device> of a nodedev paste without a valid address or IDs: left "
         "out", _A.HOSTS, OWN, WARNING),
    Code("NodedevDuplicate", "a PCI function described twice in a nodedev paste: the first is kept",
         _A.HOSTS, OWN, WARNING),
    Code("NodedevTreeOnly", "PCI functions named only in a nodedev tree (no IDs): left out",
         _A.HOSTS, OWN, WARNING),
    Code("NodedevNoDevices", "a nodedev paste with no <device> document of a PCI function",
         _A.HOSTS, OWN, WARNING),
    Code("TemplateValueNotChecked", "a nova.conf template line whose value (or whole text) is a "
         "Jinja expression: not checkable until rendered", _A.CONFIG_FILES, OWN, WARNING),
    Code("DiffSectionUnknown", "lines of a nova.conf diff's new side in a section the diff does not "
         "show: not checked", _A.CONFIG_FILES, OWN, WARNING),
    Code("DiffFileSkipped", "a file of a diff given as nova.conf that is not a nova.conf: not read",
         _A.CONFIG_FILES, OWN, WARNING),
    # -- lspci pastes ---------------------------------------------------------------------
    Code("LspciInputInvalid", "an lspci file cannot be read or holds no device", _A.LSPCI, OWN, ERROR),
    Code("LspciNoDevices", "no lspci device line was found", _A.LSPCI, OWN, WARNING),
    Code("LspciBadLine", "a device line whose PCI address is not valid: the record is skipped",
         _A.LSPCI, OWN, WARNING),
    Code("LspciLineTooLong", "a line longer than lspci prints: not read", _A.LSPCI, OWN, WARNING),
    Code("LspciBadValue", "a NUMA node, IOMMU group or VF count out of range: left unknown",
         _A.LSPCI, OWN, WARNING),
    Code("LspciNumberTooLong", "a NUMA node, IOMMU group or VF count of more than 4,300 digits "
         "(Python's int() bound): the paste is invalid", _A.LSPCI, OWN, ERROR),
    Code("LspciConflict", "two records of one address disagree on a field: the first is kept",
         _A.LSPCI, OWN, WARNING),
    Code("LspciNoIds", "a device without [vendor:device] IDs (lspci without -nn): left out",
         _A.LSPCI, OWN, WARNING),
    Code("LspciIdsFromNames", "a device's IDs were guessed from its name in pci.ids", _A.LSPCI, OWN,
         WARNING),
    # -- facts.json -----------------------------------------------------------------------
    Code("FactsCacheRefused", "facts.json cannot be saved for this root (the live host, a bundle, or "
         "an IO error)", _A.FACTS, OWN, ERROR),
    # -- fake-host profiles ---------------------------------------------------------------
    Code("FakeHostProfileInvalid", "a fake-host profile item that does not parse", _A.FAKEHOST, OWN, ERROR),
    # -- device states ----------------------------------------------------------------------
    Code("PciDeviceInvalidStatus", "a claim, allocation, free or removal of a device in a status "
         "that does not allow it", _A.DEVICE_STATE, NOVA, ERROR),
    Code("PciDeviceInvalidOwner", "a device claimed or allocated by another instance (or, on "
         "removal, still owned)", _A.DEVICE_STATE, NOVA, ERROR),
    Code("PciDeviceVFInvalidStatus", "a PF claimed or allocated while some of its VFs are busy",
         _A.DEVICE_STATE, NOVA, ERROR),
    Code("PciDevicePFInvalidStatus", "a VF claimed or allocated while its PF is claimed or "
         "allocated", _A.DEVICE_STATE, NOVA, ERROR),
    # -- the device store -------------------------------------------------------------------
    Code("StoreUnavailable", "the device store cannot be used: not a database URL, an "
         "unsupported database, a missing driver, or unreachable", _A.STORE, OWN, ERROR),
    Code("StoreNotAtHead", "the device store's schema is not this pcipass's (run pcipass db "
         "upgrade; never done silently)", _A.STORE, OWN, ERROR),
    Code("StoreConflict", "another writer changed the same host while this transaction ran; "
         "nothing was written", _A.STORE, OWN, ERROR),
    Code("StoreCorrupt", "a row of the device store holds a value pcipass never writes",
         _A.STORE, OWN, ERROR),
    Code("HostUnknown", "the host is not in the device store", _A.STORE, OWN, ERROR),
    Code("DiscoveryUnclean", "the agent's discovery of a host was not clean (a warning under "
         "sys/bus/pci, a config error): the store was left untouched", _A.STORE, OWN, ERROR),
    Code("AliasUnknown", "the devices listing was asked for an alias the config does not define",
         _A.STORE, OWN, ERROR),
    # -- claims in the device store ----------------------------------------------------------
    Code("ConsumerConflict", "a consumer that holds devices for one request asked again with "
         "another (the same request returns the same devices)", _A.STORE, OWN, ERROR),
    Code("ClaimNotFound", "the consumer holds no claim or allocation (never claimed, freed, "
         "released, or its lease expired)", _A.STORE, OWN, ERROR),
    Code("ClaimAllocated", "release of a consumer whose devices are allocated (free them "
         "instead)", _A.STORE, OWN, ERROR),
    Code("DevicesTaken", "the devices the scheduler picked were taken by another writer before "
         "the claim committed (the next best host is tried)", _A.STORE, OWN, ERROR),
    Code("NoHostFits", "no host in the device store fits the request", _A.STORE, OWN, ERROR,
         Layer.SCHEDULER),
    Code("ClaimContended", "every attempt to claim met another writer; nothing was claimed",
         _A.STORE, OWN, ERROR),
    Code("ClaimRequestInvalid", "the flavor, image, controller aliases or a port's MAC or VLAN "
         "of a claim cannot be read", _A.STORE, OWN, ERROR),
)

CODES: Mapping[str, Code] = MappingProxyType({c.name: c for c in _TABLE})
"""Every problem code by name, in table order (grouped by :class:`Area`)."""


def markdown() -> str:
    """``docs/problem-codes.md``: every registered code with its meaning, origin, severity and layer."""
    return codesdoc.markdown(_TABLE)
