"""The SMS worker's pure rules: no I/O, no adapters (checked by `lint-imports`)."""
