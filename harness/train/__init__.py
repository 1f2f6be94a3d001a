"""Training θi from θi−1 on preference pairs: DPO (+ auxiliary terms) on TRL."""
