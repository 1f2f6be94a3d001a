"""Self-evolution harness: run and compare self-evolution alignment methods for LLaVA-family models."""

__version__ = "0.1.0"
