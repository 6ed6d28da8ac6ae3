"""The GPU sidecar: NVML, host and engine samples beside a run (never imports locust)."""
