"""pcipass: PCI passthrough and SR-IOV for OpenStack Nova, made to work the first time."""

__version__ = "0.1.0"

__all__ = ["__version__"]
