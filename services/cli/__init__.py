"""`givecare`: the operator and developer command line (one console script, one sub-app per area)."""
