"""The virtual file system: validated names, files in memory, synced to a workspace on disk."""
