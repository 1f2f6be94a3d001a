"""Code shared by several methods (methods/common/pairs.py: seeds, text checks, step statistics)."""
