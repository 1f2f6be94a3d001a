"""Built-in benchmarks, each registered as a `harness` plugin."""
