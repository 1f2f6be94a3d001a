"""Training θi from θi−1 on preference pairs: DPO (+ SENA's alignment term) on TRL."""
