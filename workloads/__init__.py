"""Memory workloads: a Go-like heap on real private anonymous memory (standard library only)."""
