"""The five stages: training, torch_attacks, art_attacks, immunization, reporting."""
