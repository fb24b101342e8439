"""Peer benchmarks: bitsift against the systems a user would otherwise pick (issue 5)."""
