"""Fault-injection tests: store servers killed and restarted, drivers killed, lock contention, runaway jobs."""
