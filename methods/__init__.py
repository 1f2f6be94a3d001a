"""Built-in self-evolution methods, each registered as a `harness` plugin."""
