"""The NVML reader through an injected fake module: fields, units, unsupported calls, errors."""

from __future__ import annotations

from loadgen.sidecar.nvml import NvmlReader
from tests.fixtures.fake_nvml import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    FakeGpu,
    FakeNvml,
)


def _open(fake: FakeNvml) -> NvmlReader:
    reader = NvmlReader(fake)
    assert reader.open() is None
    return reader


def test_reads_every_field_with_units_converted() -> None:
    gpu = FakeGpu(
        used_bytes=16_100_000_000,
        reserved_bytes=530_000_000,
        util_gpu_pct=87,
        util_mem_pct=41,
        power_mw=312_500,
        energy_mj=7_654_321,
        temperature_c=64,
        sm_clock_mhz=1755,
        mem_clock_mhz=2619,
        throttle_reasons=4,
    )
    reading = _open(FakeNvml([gpu])).read(wall_unix_ns=123)
    (s,) = reading.gpus
    assert (s.wall_unix_ns, s.gpu_index, s.gpu_name, s.source) == (123, 0, gpu.name, "nvml")
    assert s.vram_used_bytes == 16_100_000_000  # v2 "used" excludes the reservation
    assert s.vram_reserved_bytes == 530_000_000
    assert s.vram_total_bytes == gpu.total_bytes
    assert (s.gpu_util_pct, s.mem_util_pct) == (87.0, 41.0)
    assert s.power_w == 312.5 and s.energy_j == 7654.321
    assert (s.temperature_c, s.sm_clock_mhz, s.mem_clock_mhz, s.throttle_reasons) == (
        64.0,
        1755,
        2619,
        4,
    )
    assert reading.notices == []


def test_unsupported_fields_are_none_and_silent() -> None:
    fake = FakeNvml()
    fake.unsupported = {
        "nvmlDeviceGetTotalEnergyConsumption",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetUtilizationRates",
    }
    reader = _open(fake)
    for tick in range(3):
        reading = reader.read(tick)
        (s,) = reading.gpus
        assert s.energy_j is None and s.power_w is None and s.throttle_reasons is None
        assert s.gpu_util_pct is None and s.mem_util_pct is None
        assert s.temperature_c == 31.0
        assert reading.notices == []


def test_memory_v2_unsupported_falls_back_to_v1() -> None:
    fake = FakeNvml([FakeGpu(used_bytes=1000, reserved_bytes=200)])
    fake.unsupported = {"nvmlDeviceGetMemoryInfo_v2"}
    (s,) = _open(fake).read(0).gpus
    assert s.vram_used_bytes == 1200 and s.vram_reserved_bytes is None


def test_mid_run_error_is_recorded_once_and_sampling_goes_on() -> None:
    fake = FakeNvml([FakeGpu(), FakeGpu(name="second")])
    reader = _open(fake)
    assert len(reader.read(0).gpus) == 2
    fake.errors["nvmlDeviceGetPowerUsage"] = NVML_ERROR_GPU_IS_LOST
    first, second = reader.read(1), reader.read(2)
    assert [s.power_w for s in first.gpus] == [None, None]
    assert [n.message for n in first.notices] == [
        "NVML error on gpu0.power: GPU is lost",
        "NVML error on gpu1.power: GPU is lost",
    ]
    assert second.notices == [] and len(second.gpus) == 2  # reported once, not every tick
    del fake.errors["nvmlDeviceGetPowerUsage"]
    recovered = reader.read(3)
    assert [s.power_w for s in recovered.gpus] == [70.0, 70.0]
    assert {n.message for n in recovered.notices} == {
        "NVML gpu0.power readable again",
        "NVML gpu1.power readable again",
    }


def test_unreadable_memory_skips_that_gpu_for_the_tick() -> None:
    fake = FakeNvml()
    reader = _open(fake)
    fake.errors["nvmlDeviceGetMemoryInfo_v2"] = NVML_ERROR_GPU_IS_LOST
    fake.errors["nvmlDeviceGetMemoryInfo"] = NVML_ERROR_GPU_IS_LOST
    reading = reader.read(5)
    assert reading.gpus == []
    assert all(n.source == "nvml" and "GPU is lost" in n.message for n in reading.notices)
    assert len(reading.notices) == 2


def test_per_process_memory_summed_across_gpus() -> None:
    gpus = [FakeGpu(processes={10: 4_000, 11: 500}), FakeGpu(processes={10: 3_000, 12: None})]
    reading = _open(FakeNvml(gpus)).read(0)
    assert reading.process_memory_bytes == {10: 7_000, 11: 500}  # None = driver cannot tell


def test_no_driver_or_library_gives_one_line_notice() -> None:
    for code in (NVML_ERROR_LIBRARY_NOT_FOUND, NVML_ERROR_DRIVER_NOT_LOADED):
        reader = NvmlReader(FakeNvml(init_error=code))
        notice = reader.open()
        assert notice is not None and "\n" not in notice
        assert "sampling host and process only" in notice
        assert reader.gpu_count == 0 and reader.read(0).gpus == []


def test_no_gpu_at_all() -> None:
    notice = NvmlReader(FakeNvml(gpus=[])).open()
    assert notice == "NVML found no GPU; sampling host and process only"


def test_close_shuts_nvml_down() -> None:
    fake = FakeNvml()
    reader = _open(fake)
    reader.close()
    assert fake.shut_down and reader.gpu_count == 0
