"""What the kernel says: /proc readers, the sampler, system facts, cgroups and pressure, the capability check."""
