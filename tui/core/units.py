"""Binary size units, defined once (in the workloads package, which imports only the stdlib)."""

from workloads.units import GiB, KiB, MiB

__all__ = ["GiB", "KiB", "MiB"]
