"""The fault sweep's parts: a MySQL-protocol fault proxy, the whole-call invariants, the cases
derived from a fault-free trace, and the runner that plays one faulted call, bounded."""
