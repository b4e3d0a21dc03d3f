"""The admin API and its rules: bearer tokens and roles, read models over every service's data,
and audited operator writes. Served by ingress under `/admin` and driven by the `givecare` CLI,
which call the same functions (see docs/admin.md)."""
