"""Pure business rules that more than one service applies (no I/O, no service imports).

A rule lives here only when two services must agree on it exactly; otherwise it belongs to the
one service that owns it.
"""
