"""Packaged shape file: `loadgen swarm` passes it to Locust next to locustfile.py for steps."""

from loadgen.swarm.shapes import StepShape


class Levels(StepShape):
    abstract = False
