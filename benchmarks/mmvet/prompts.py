"""MM-Vet's judge prompt, verbatim (protocol, not code).

Source: yuweihao/MM-Vet, file ``mm-vet_evaluator.py`` (module-level ``prompt``), commit
c7ff270d86fb79c42346214366f4192c0e08b042 (identical text in ``mm-vet_evaluator.ipynb``).
2,290 characters; SHA-256 d1b3e0a5b4e72c888b77164489d705bba4dd149934fff564dfba6443d81afe3f
(checked by tests/test_mmvet.py).
"""

from __future__ import annotations

import hashlib

FEW_SHOT_PROMPT_SHA256 = "d1b3e0a5b4e72c888b77164489d705bba4dd149934fff564dfba6443d81afe3f"

# Appended to the query when a reply does not parse (the official retry rule).
RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "

FEW_SHOT_PROMPT = """Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. <AND> in the ground truth means it is totally right only when all elements in the ground truth are present in the prediction, and <OR> means it is totally right when any one element in the ground truth is present in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right). Just complete the last space of the correctness score.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0
What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme talks about Iceland and Greenland. It's pointing out that despite their names, Iceland is not very icy and Greenland isn't very green. | 0.4
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow. The text 'This is why I have trust issues' is a playful way to suggest that these contradictions can lead to distrust or confusion. The humor in this meme is derived from the unexpected contrast between the names of the countries and their actual physical characteristics. | 1.0
"""


def prompt_sha256() -> str:
    """SHA-256 of the few-shot prompt as UTF-8 (the protocol card's prompt_version)."""
    return hashlib.sha256(FEW_SHOT_PROMPT.encode("utf-8")).hexdigest()
