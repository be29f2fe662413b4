"""The provider registry: providers, their connectors and scopes, from TOML.

Read in the order of its flow:

- `model.py`: the data (`Provider`, `Connector`, `Parameter`, `Registry`), the
  values its fields may take, and the name predicates the rest share;
- `loading.py`: finding and reading the files (the bundled `providers.toml`,
  then the user's overlays), merging them and building the providers;
- `checks.py`: every check of one registry file, and its schema;
- `cache.py`: the JSON cache the fast path (`list`, completion) reads instead
  of parsing TOML, checked again on every read;
- `overlay.py`: text edits of the user's overlay (`providers.toml` in the
  config folder), keeping its comments.

This file imports nothing: a command that only needs `model` does not pay for
loading, checks or `tomllib`.
"""
