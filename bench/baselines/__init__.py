"""What the benchmarks compare the product against: the original inline webhook handler and the
same inbound handler under FastStream. Benchmark code, not product code; no service imports it.
"""
