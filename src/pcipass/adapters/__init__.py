"""Adapters: each module reads or writes exactly one outside system and returns core values.

Host roots and bundles (``roots``, ``hostroot``, ``treeroot``, ``bundle``,
``dirhandle``, ``rootfiles``, ``sysallow``); sysfs (``sysfs``, ``sysnuma``,
``sysattrs``); the kernel (``kernel``); ``pci.ids`` (``pciids``); lspci pastes
(``lspci``, ``lspcirecords``, ``lspcifile``); nova.conf through oslo.config
(``novaconf``, ``iniparse``, ``novaopts``, ``novanames``, ``interpolation``,
``novasnippets``, ``sniff``, ``hostconf``); the SR-IOV agent ini
(``sriovagent``); flavor and image files (``flavorfile``); ``facts.json``
(``factscache``, ``factsform``, ``jsoncodec``); bounded reads of named files
(``boundedread``). Every input is untrusted (``docs/security.md``). Adapters
import the core, and each other only along the edges pyproject.toml declares.
"""
