"""The positive control (validation only): true scene descriptions vs noised-image descriptions; the `oracle` plugin."""

from methods.oracle.method import EXISTENCE_PROMPT, Oracle, OracleConfig, harness_methods, scene_of

__all__ = ["EXISTENCE_PROMPT", "Oracle", "OracleConfig", "scene_of", "harness_methods"]
