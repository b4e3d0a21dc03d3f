"""Property-based tests of every parser that reads outside input: no input may raise anything
but the parser's documented error, and what a parser accepts keeps its invariants."""
