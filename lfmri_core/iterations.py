"""The image after every iteration of a stepping solver: what an iteration movie shows.

The iterative methods (``cg-sense``, ``cs-wavelet``, ``cs-tv``: :mod:`lfmri_core.recon.classical`)
are stepping solvers (``update()`` / ``done()``, sigpy's interface). :func:`iterate_slices`
prepares a slice exactly as :func:`lfmri_core.inference.infer_slices` does (mask, coil
compression, coil maps), then drives the method's own solver one iteration at a time and
yields the magnitude image, centre-cropped to the recon size, after each iteration it keeps.
Reading the iterate changes nothing in the solver, so the last image is bit for bit the one
:func:`~lfmri_core.inference.infer_slices` returns for the same call (without its classifier).

>>> frames = iterate_slices(kspace, mask, "cg-sense", recon_shape=(320, 320))   # doctest: +SKIP
>>> [it.iteration for it in frames]                                            # doctest: +SKIP
[1, 2, ..., 30]

A generator (stardist-napari's style): front ends show the frames as they arrive, a cancel
callback stops it between iterations.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from lfmri_core.coils import compress_coils, estimate_sensitivities, virtual_coil_count
from lfmri_core.coils.calibration import as_kspace_batch
from lfmri_core.device import resolve_device
from lfmri_core.errors import InputError
from lfmri_core.pipeline import MaskArg, as_sampling_mask, check_recon_shape
from lfmri_core.physics import center_crop
from lfmri_core.physics.sense import apply_mask
from lfmri_core.recon.iterative import IterativeAlgorithm
from lfmri_core.recon.registry import (
    CancelCallback,
    Cancelled,
    available_methods,
    build_method,
    method_info,
)


@dataclass(frozen=True)
class Iterate:
    """The image after one iteration.

    Attributes
    ----------
    iteration
        Iterations done (1 for the first update).
    total
        The solver's iteration budget (``max_iterations``); a solver that converges stops
        earlier, and its last :class:`Iterate` has ``iteration < total``.
    image
        Magnitude, float32 ``(slices, rh, rw)``, centre-cropped to the recon size.
    """

    iteration: int
    total: int
    image: np.ndarray


def iterative_methods() -> list[str]:
    """Registered methods whose built object offers a stepping solver (``solver()``)."""
    names = []
    for name in available_methods():
        info = method_info(name)
        if info.learned or not info.needs_sensitivities:
            continue
        try:
            method = build_method(name)
        except InputError:
            continue
        if callable(getattr(method, "solver", None)):
            names.append(name)
    return names


def iterate_slices(
    kspace: np.ndarray | torch.Tensor,
    mask: MaskArg,
    method: str,
    *,
    device: str | torch.device = "auto",
    recon_shape: tuple[int, int] | None = None,
    method_params: Mapping[str, object] | None = None,
    sensitivity_method: str = "espirit",
    coil_compression: int | None = None,
    every: int = 1,
    cancel: CancelCallback | None = None,
) -> Generator[Iterate, None, np.ndarray]:
    """Yield the image after every ``every``-th iteration of ``method``'s solver, and the last.

    Parameters are those of :func:`~lfmri_core.inference.infer_slices` (the coil-map checks'
    findings are not reported here: the same call of ``infer_slices`` reports them).

    Parameters
    ----------
    every
        Keep one iteration in ``every`` (>= 1); the final iteration is always yielded.
    cancel
        Polled before every iteration; True raises :class:`~lfmri_core.recon.Cancelled`.

    Returns
    -------
    numpy.ndarray
        The generator's return value: the final magnitude, float32 ``(slices, rh, rw)``, equal
        to ``infer_slices(...).image`` for the same arguments.

    Raises
    ------
    InputError
        A method without a stepping solver (one line naming those that have one), and every
        bad input :func:`~lfmri_core.inference.infer_slices` refuses.
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise InputError(f"every must be an integer >= 1, got {every!r}")
    info = method_info(method)
    recon = build_method(method, **dict(method_params or {}))
    make_solver = getattr(recon, "solver", None)
    if not callable(make_solver) or not info.needs_sensitivities:
        raise InputError(f"{method} does not iterate; iteration movies need one of {', '.join(iterative_methods())}")
    dev = resolve_device(device)
    batch, _ = as_kspace_batch(kspace)
    batch = batch.to(dev)
    crop = check_recon_shape(recon_shape, (int(batch.shape[-2]), int(batch.shape[-1])))
    sampling_mask = as_sampling_mask(mask)
    mask_tensor = sampling_mask.to_tensor(tuple(batch.shape), device=dev)
    # The same steps as infer_slices, in the same order: the final image must be its image.
    undersampled = apply_mask(batch, mask_tensor)
    virtual = virtual_coil_count(coil_compression, undersampled.shape[1])
    if virtual is not None:
        undersampled = compress_coils(undersampled, virtual, mask=sampling_mask).kspace
    maps = estimate_sensitivities(undersampled, sensitivity_method, mask=sampling_mask, warn=False).maps
    with torch.no_grad():
        solver: IterativeAlgorithm = make_solver(undersampled, mask_tensor, sensitivities=maps)
        while not solver.done():
            if cancel is not None and cancel():
                raise Cancelled(f"cancelled after {solver.iteration} of {solver.max_iterations} iterations")
            solver.update()
            if solver.iteration % every == 0 or solver.done():
                yield Iterate(solver.iteration, solver.max_iterations, _magnitude(solver.result, crop))
        return _magnitude(solver.result, crop)


def _magnitude(image: torch.Tensor, crop: tuple[int, int]) -> np.ndarray:
    return center_crop(image.abs(), crop).to(torch.float32).cpu().numpy()


__all__ = ["Iterate", "iterate_slices", "iterative_methods"]
