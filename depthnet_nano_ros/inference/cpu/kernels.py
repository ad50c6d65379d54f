"""The optional fused onnxruntime CPU kernels (src/cpu_kernels): which build, where, if usable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from depthnet_nano_ros.inference.errors import InferenceError

#: Instruction sets the kernels are built for, best first, with the CPU flags each needs.
ISA_FLAGS: dict[str, tuple[str, ...]] = {
    "avx512": ("avx512f", "avx512dq", "avx512bw", "avx512vl", "fma"),
    "avx2": ("avx2", "fma"),
}
ENV_SWITCH = "DEPTHNET_NANO_CPU_KERNELS"  # 0/off: never use the kernels
ISA_SWITCH = "DEPTHNET_NANO_CPU_ISA"  # avx512 / avx2: use this build (default: the best one)


def library_name(isa: str) -> str:
    """File name of the kernel library built for `isa`."""
    return f"libdepthnet_nano_cpu_kernels_{isa}.so"


def library_path(isa: str) -> Path:
    """The `isa` library next to this module, else in an installed copy of the package."""
    here = Path(os.path.abspath(__file__)).parent / library_name(isa)
    if here.is_file():
        return here
    for entry in sys.path:  # e.g. running from a source checkout next to `make install`'s venv
        candidate = Path(entry or ".", "depthnet_nano_ros", "inference", "cpu", library_name(isa))
        if candidate.is_file():
            return candidate.absolute()
    return here


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (empty when unknown)."""
    try:
        text = Path(cpuinfo).read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[1].split()) if ":" in line else set()


def missing_cpu_flags(isa: str = "avx512", cpuinfo: str | Path = "/proc/cpuinfo") -> list[str]:
    """The flags the `isa` kernels need that this CPU lacks (all of them if unknown)."""
    flags = cpu_flags(cpuinfo)
    return [f for f in ISA_FLAGS[isa] if f not in flags]


def requested_isa() -> str | None:
    """$DEPTHNET_NANO_CPU_ISA (avx512 / avx2), None when unset; anything else is an error."""
    env = os.environ.get(ISA_SWITCH, "").strip().lower()
    if not env:
        return None
    if env not in ISA_FLAGS:
        raise InferenceError(f"{ISA_SWITCH}={env!r} is not one of {', '.join(ISA_FLAGS)}; "
                             "unset it to use the best instruction set this CPU has")
    return env


def choose_isa(cpuinfo: str | Path = "/proc/cpuinfo") -> tuple[str | None, str]:
    """(isa, library path) of the kernels to use, or (None, why the tuned graph runs instead).

    The kernels are off with $DEPTHNET_NANO_CPU_KERNELS=0; $DEPTHNET_NANO_CPU_ISA picks one
    build (it must be built and supported by the CPU); by default the best supported one.
    """
    env = os.environ.get(ENV_SWITCH, "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return None, f"disabled by {ENV_SWITCH}={env}"
    wanted = requested_isa()
    why = []
    for isa in [wanted] if wanted else list(ISA_FLAGS):
        lib = library_path(isa)
        missing = missing_cpu_flags(isa, cpuinfo)
        if not lib.is_file():
            why.append(f"{library_name(isa)} not built (needs x86-64 and onnxruntime's C++ "
                       "headers)")
        elif missing:
            why.append(f"CPU lacks {'/'.join(missing)} for {isa}")
        else:
            return isa, str(lib)
    return None, "; ".join(why) + (f" ({ISA_SWITCH}={wanted})" if wanted else "")


def kernels_usable() -> tuple[bool, str]:
    """(usable, library path or why not): see :func:`choose_isa`."""
    isa, detail = choose_isa()
    return isa is not None, detail
