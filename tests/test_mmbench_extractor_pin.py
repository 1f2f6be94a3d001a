"""MMBench's answer extractor sends max_tokens 1024, as VLMEvalKit did at the commit its rules are pinned to
(f628ed15d66e, 2024-11-29: vlmeval/api/gpt.py OpenAIWrapper's default; 2048 only from 43af13e0, 2025-02-20),
and the protocol card records the value and where it comes from."""

from __future__ import annotations

from benchmarks.mmbench import MMBenchBenchmark


def test_extractor_max_tokens_is_the_pinned_commits_and_on_the_card():
    card = MMBenchBenchmark().card()
    assert card.judge_max_tokens == 1024
    assert "f628ed15d66e" in card.scorer_source and "extractor max_tokens 1024" in card.scorer_source
    assert "2048 only from 43af13e0" in card.scorer_source
