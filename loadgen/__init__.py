"""loadgen: how does an LLM engine behave as concurrent users grow?"""

from loadgen.records import EngineSample, GpuSample, HostSample, ProcessSample, RequestRecord

__version__ = "0.1.0"

__all__ = [
    "EngineSample",
    "GpuSample",
    "HostSample",
    "ProcessSample",
    "RequestRecord",
    "__version__",
]
