"""Post-training of probe decoders: synthetic pretraining corpus, pretraining, SFT, RL."""
