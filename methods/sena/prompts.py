"""SENA's prompts, verbatim (protocol: reproduced exactly, never paraphrased).

Source: WentaoTan/SENA, snapshot commit 9642a7f (2025-03-19; the files themselves last changed in
f0b7d8c):

- ``P_BASE``, ``P_SQ`` and ``P_DES``: ``data/step2/generate_question.py`` (``PROMPT``,
  ``improved_prompt``, ``descriptions``).
- ``SUFFIX_DES``, ``SUFFIX_GEN``: ``data/step2/generate_with_aug.py`` (the ``add`` strings of the
  i = 0 and i = 1 passes).
- ``P_SE``, ``P_SE_NO_DES``: ``data/step2/generate_improve.py`` (``improved_prompt``,
  ``improved_prompt_noDes``); ``P_DES`` is repeated there unchanged.

The placeholders ``<question>``, ``<des>`` and ``<answer>`` are filled with ``str.replace`` in the
official order (des, question, answer for ``P_SE``; question, answer for ``P_SE_NO_DES``), so a
placeholder-like string inside a model output behaves as it does in the official code.
"""

from __future__ import annotations

# generate_question.py, PROMPT
P_BASE = "Please look at the image and generate a question related to the content of the image."

# generate_question.py, improved_prompt (ends with a newline after "QUESTION:")
P_SQ = (
    "Given an image, we try to ask a QUESTION about the image. Your task is to check whether this QUESTION "
    "can be answered based on the content of the image.\n"
    "QUESTION: <question>\n"
    "(1) If you can answer the QUESTION, please do not modify it. Output QUESTION directly.\n"
    "(2) If you cannot answer the QUESTION, please ask a new Question that depends on the content of the image.\n"
    "Your answer should be in the following format:\n"
    "QUESTION:\n"
)

# generate_question.py (and generate_improve.py), descriptions: LLaVA's brief-description instructions
P_DES: tuple[str, ...] = (
    "Describe the image concisely.",
    "Provide a brief description of the given image.",
    "Offer a succinct explanation of the picture presented.",
    "Summarize the visual content of the image.",
    "Give a short and clear explanation of the subsequent image.",
    "Share a concise interpretation of the image provided.",
    "Present a compact description of the photo's key features.",
    "Relay a brief, clear account of the picture shown.",
    "Render a clear and concise summary of the photo.",
    "Write a terse but informative summary of the picture.",
    "Create a compact narrative representing the image presented.",
)

# generate_with_aug.py: appended to the P_DES prompt (type "des") and to the generated question (type "gen")
SUFFIX_DES = "\nLook at the image and answer the question in one short sentence."
SUFFIX_GEN = "\nLook at the image and answer the question using a single word or phrase."

# generate_improve.py, improved_prompt (ends with a newline after "Improved Answer:")
P_SE = (
    "Given the image, the description of the image, a question about the image and the answer, your task is to "
    "improve the quality of the answer.\n"
    "Image Description: <des>\n"
    "Question: <question>\n"
    "Current Answer: <answer>\n"
    "Based on the information provided in the Image Description, please analyze the question further and "
    "generate a more precise and concise response.\n"
    "Your answer should be formatted as:\n"
    "Improved Answer:\n"
)

# generate_improve.py, improved_prompt_noDes: used when the description is literally "Yes" or "yes"
P_SE_NO_DES = (
    "Given the image, the description of the image, a question about the image and the answer, your task is to "
    "improve the quality of the answer using a single word or phrase.\n"
    "Question: <question>\n"
    "Current Answer: <answer>\n"
    "Please analyze the question further and generate a more precise and concise response.\n"
    "Your answer should be formatted as:\n"
    "Improved Answer:\n"
)

# generate_question.py strips this literal from each extracted question
QUESTION_LABEL = "QUESTION: "
# generate_improve.py: an output starting with IMPROVED_PREFIX replaces the answer, minus IMPROVED_LABEL
IMPROVED_PREFIX = "Improved Answer:"
IMPROVED_LABEL = "Improved Answer: "
# descriptions for which generate_improve.py switches to P_SE_NO_DES
NO_DES_DESCRIPTIONS = ("Yes", "yes")


def fill_sq(question: str) -> str:
    """p_sq with ``<question>`` set to the whole raw p_base output."""
    return P_SQ.replace("<question>", question)


def fill_se(description: str, question: str, answer: str) -> str:
    """p_se (or its no-description form when the description is literally Yes/yes), filled in the
    official order."""
    if description in NO_DES_DESCRIPTIONS:
        return P_SE_NO_DES.replace("<question>", question).replace("<answer>", answer)
    return P_SE.replace("<des>", description).replace("<question>", question).replace("<answer>", answer)
