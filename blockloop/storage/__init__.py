"""Storage: a run's directory, its manifests and arrays, and the commit protocol."""
