"""Run ``bart pics`` on our arrays: the reference the classical methods are checked against.

Used by the conformance tests and ``benchmarks/bench_recon.py``; needs the ``bart`` command
(BART 0.8.00 or later) on ``PATH``. Arrays go through ``.cfl`` files in a temporary folder,
on ``/dev/shm`` when it exists so BART's file I/O stays in memory; only the ``bart pics``
process is timed (process start, reading the inputs, its own scaling, the iterations and
writing the output included).

:func:`pics_arguments` states the exact settings that correspond to our parameters.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.bart_cfl import read_cfl, write_cfl
from lfmri_core.recon.classical import CgSenseParams, CsTvParams, CsWaveletParams


def bart_executable() -> str | None:
    """Path of the ``bart`` command, or None."""
    return shutil.which("bart")


def bart_version() -> str:
    """``bart version`` (e.g. ``v0.8.00``)."""
    exe = bart_executable()
    if exe is None:
        raise InputError("the bart command is not installed (see https://mrirecon.github.io/bart/)")
    return subprocess.run([exe, "version"], capture_output=True, text=True, check=True).stdout.strip()


def pics_arguments(params: CgSenseParams | CsWaveletParams | CsTvParams, scaling: float) -> list[str]:
    """``bart pics`` options solving the same problem as our method with ``params``.

    Parameters
    ----------
    params
        Our method's parameters.
    scaling
        The data scale both use (BART ``-w``); ``-S`` makes BART return the image in the data's
        units, as ours does.

    Returns
    -------
    list[str]
        e.g. ``["-S", "-w", "0.93", "-l2", "-r", "0.01", "-i", "30"]``. For ``cs-tv`` the
        ``-i`` is ``params.max_total_cg_iterations`` (BART counts inner CG iterations for ADMM),
        which must be set.
    """
    args = ["-S", "-w", repr(float(scaling))]
    if isinstance(params, CgSenseParams):
        return [*args, "-l2", "-r", repr(params.lam), "-i", str(params.iterations)]
    if isinstance(params, CsWaveletParams):
        if params.seed != 1 and params.cycle_spinning:
            raise InputError("BART's cycle spinning starts from seed 1; use seed=1 to compare with it")
        if params.eigen_step:
            raise InputError("BART's -e estimates the step by a random power iteration; compare with a fixed step")
        args += ["-l1", "-r", repr(params.lam), "-i", str(params.iterations), "-s", repr(params.step)]
        args += ["--wavelet", params.wavelet]
        return args + ([] if params.cycle_spinning else ["-n"])
    if params.max_total_cg_iterations is None:
        raise InputError("BART's ADMM stops on a total of inner CG iterations: set max_total_cg_iterations")
    if params.relaxation != 1.6 or params.cg_tolerance != 1e-3:
        raise InputError("BART's ADMM has over-relaxation 1.6 and CG tolerance 1e-3 built in")
    args += ["-R", f"T:3:0:{params.lam!r}", "-i", str(params.max_total_cg_iterations)]
    return args + ["-u", repr(params.rho), "-C", str(params.cg_iterations)]


@dataclass(frozen=True)
class PicsResult:
    """One ``bart pics`` run.

    Attributes
    ----------
    image
        complex64 ``(H, W)``.
    seconds
        Wall time of the ``bart pics`` process.
    command
        The command line run.
    output
        What BART printed (stdout and stderr).
    """

    image: np.ndarray
    seconds: float
    command: tuple[str, ...]
    output: str


class PicsRunner:
    """Writes one slice's inputs once, then runs ``bart pics`` with any options on them.

    Parameters
    ----------
    kspace
        complex ``(coils, H, W)`` (unsampled entries zero).
    sensitivities
        complex ``(coils, H, W)``; None runs ``bart ecalib ECALIB_ARGUMENTS kspace maps`` on the
        k-space instead (BART's own maps; with more than one set of maps, ``-m2`` say, the
        image :meth:`run` returns is the root sum of squares over them).
    mask
        Boolean ``(H, W)`` (or broadcastable); passed as BART's sampling pattern (``-p``), so
        BART samples exactly what we do.
    directory
        Where the ``.cfl`` files go (default: a new folder under ``/dev/shm`` or the system
        temporary folder); removed by :meth:`close` when created here.
    ecalib_arguments
        Options of ``bart ecalib`` when ``sensitivities`` is None.
    """

    def __init__(
        self,
        kspace: np.ndarray,
        sensitivities: np.ndarray | None,
        mask: np.ndarray,
        *,
        directory: str | os.PathLike[str] | None = None,
        ecalib_arguments: Sequence[str] = ("-m1",),
    ) -> None:
        exe = bart_executable()
        if exe is None:
            raise InputError("the bart command is not installed (see https://mrirecon.github.io/bart/)")
        self.exe = exe
        kspace = np.asarray(kspace, dtype=np.complex64)
        if kspace.ndim != 3:
            raise InputError(f"bart pics needs k-space of shape (coils, H, W), got {kspace.shape}")
        if sensitivities is not None:
            sensitivities = np.asarray(sensitivities, dtype=np.complex64)
            if sensitivities.shape != kspace.shape:
                raise InputError(f"bart pics needs maps of the k-space's shape {kspace.shape}, got {sensitivities.shape}")
        pattern = np.broadcast_to(np.asarray(mask, dtype=bool), kspace.shape[1:])
        self.image_shape = kspace.shape[1:]
        self._owned = directory is None
        if directory is None:
            base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
            directory = tempfile.mkdtemp(prefix="lfmri-bart-", dir=base)
        self.directory = Path(directory)
        # ours (coils, H, W) -> BART (read, phase1, phase2, coils)
        try:
            write_cfl(self.directory / "kspace", np.transpose(kspace, (1, 2, 0))[:, :, None, :])
            write_cfl(self.directory / "pattern", pattern.astype(np.complex64))
            if sensitivities is not None:
                write_cfl(self.directory / "maps", np.transpose(sensitivities, (1, 2, 0))[:, :, None, :])
            else:
                self._bart("ecalib", *ecalib_arguments, "kspace", "maps")
        except BaseException:
            self.close()
            raise

    def _bart(self, *arguments: str) -> str:
        """Run ``bart ARGUMENTS`` in the folder; its output, or RuntimeError naming its last line."""
        done = subprocess.run((self.exe, *arguments), cwd=self.directory, capture_output=True, text=True)
        output = done.stdout + done.stderr
        if done.returncode != 0:
            last = output.strip().splitlines()[-1] if output.strip() else f"exit status {done.returncode}"
            raise RuntimeError(f"bart {arguments[0]} failed: {last}")
        return output

    def run(self, arguments: Sequence[str]) -> PicsResult:
        """``bart pics ARGUMENTS -p pattern kspace maps out`` and read the image back."""
        arguments = ("pics", *arguments, "-p", "pattern", "kspace", "maps", "image")
        start = time.perf_counter()
        output = self._bart(*arguments)
        seconds = time.perf_counter() - start
        image = np.array(read_cfl(self.directory / "image"), dtype=np.complex64)
        if image.size == math.prod(self.image_shape):
            image = image.reshape(self.image_shape)
        else:  # one image per set of maps (BART's maps dimension, the last): combined by RSS
            per_map = image.reshape((*self.image_shape, -1), order="F")
            image = np.sqrt(np.sum(np.abs(per_map) ** 2, axis=-1)).astype(np.complex64)
        return PicsResult(image, seconds, (self.exe, *arguments), output)

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PicsRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
