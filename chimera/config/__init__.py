"""Configuration: loading swarm.yaml and skill files into a validated Swarm."""
