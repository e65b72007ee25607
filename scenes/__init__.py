"""Scene builders, samplers and physics."""
