"""The OpenAI-compatible judge: the client (client.py) with its retries (retry.py), persistent
cache (cache.py), price table and cost estimates (pricing.py), usage accounting (usage.py), and the
request/reply types every judged benchmark uses (types.py)."""
