"""The CLI process's side of a run: plan, target probe, simulator and sidecar children, run end.

Never imports locust, gevent or click: `loadgen swarm` and `loadgen ui` (in cli/) drive it, and
the Locust process (swarm/) reads only its pure pieces (plan, target probe, generator health).
"""
