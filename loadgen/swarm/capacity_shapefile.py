"""Packaged shape file: `loadgen capacity` passes it to Locust next to locustfile.py."""

from loadgen.swarm.capacity_shape import CapacityShape


class Probes(CapacityShape):
    abstract = False
