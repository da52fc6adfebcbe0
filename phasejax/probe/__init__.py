"""Language-model probe: tasks with finite answer sets, prompts, and (to come) Flax decoders."""
