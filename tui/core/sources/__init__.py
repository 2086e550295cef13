"""Memory sources behind one protocol: the live lab, attached processes, a replayed recording."""
