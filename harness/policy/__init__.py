"""Policies: LLaVA-family checkpoints (and the built-in tiny model) with their conversation template."""

from harness.policy.loading import Policy, load_policy
from harness.policy.templates import TEMPLATES, ConversationTemplate, get_template

__all__ = ["Policy", "load_policy", "ConversationTemplate", "TEMPLATES", "get_template"]
