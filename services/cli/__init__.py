"""`givecare`: the operator and developer command line (one console script, a sub-app per area)."""
