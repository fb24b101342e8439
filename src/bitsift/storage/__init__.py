"""On-disk pieces of a namespace: manifest, append-only row files, SQLite items, writer lock.
The exact bytes are documented in ARCHITECTURE.md."""
