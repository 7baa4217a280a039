"""Ports: the typing.Protocol interfaces services depend on."""
