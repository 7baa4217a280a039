"""chimera: observable, multi-tenant agent swarms declared in YAML."""
