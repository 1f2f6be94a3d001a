"""Reporting: the versioned results schema (results.py), the generated leaderboard
(leaderboard.py), side-by-side comparison (compare.py) and plots (plots.py)."""
