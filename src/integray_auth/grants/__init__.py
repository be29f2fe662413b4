"""The grants: the ways integray-auth obtains tokens from a provider."""
