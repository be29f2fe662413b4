"""Use cases: what each command does, independent of how it was invoked."""
