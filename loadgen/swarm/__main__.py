"""`python -m loadgen.swarm -f LOCUSTFILE ...`: Locust's command line with loadgen's plugin loaded
first, so that `--help` lists every loadgen flag too (plain `locust --help` is printed before any
locustfile is imported). Everything else runs exactly as with `locust`.
"""

from locust.main import main

from loadgen.swarm import plugin  # noqa: F401  (registers loadgen's flags and listeners)

main()
