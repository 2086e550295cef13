"""The Go side: the toolchain that builds the real Go workload, and the parser of Go's gctrace/scavtrace lines."""
