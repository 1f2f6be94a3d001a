"""A judge that answers from recorded texts, for the judged-benchmark golden tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.judge.types import JudgeReply, JudgeRequest


@dataclass(frozen=True)
class Failed:
    """A recorded failed call (the reply carries ``error``)."""

    error: str = "APIError: 500"


class RecordedJudge:
    """Replies looked up by ``(key, run_index, attempt)``, then ``(key, run_index)``, then ``default``.

    Every request is kept in ``requests`` so tests can check prompts and decoding parameters.
    A request with no recording fails the test.
    """

    def __init__(
        self, answers: dict[tuple, str | Failed], *, default: str | None = None, model: str = "recorded-judge"
    ) -> None:
        self.answers = answers
        self.default = default
        self.model = model
        self.requests: list[JudgeRequest] = []

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        replies = []
        for req in requests:
            self.requests.append(req)
            answer = self.answers.get(
                (req.key, req.run_index, req.attempt), self.answers.get((req.key, req.run_index), self.default)
            )
            if answer is None:
                raise AssertionError(f"no recorded answer for {req.key} run {req.run_index} attempt {req.attempt}")
            if isinstance(answer, Failed):
                replies.append(JudgeReply(req, None, error=answer.error, model=self.model))
            else:
                replies.append(JudgeReply(req, answer, model=self.model))
        return replies
