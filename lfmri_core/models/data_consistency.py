"""The data-consistency step of the unrolled networks: a few differentiable CG steps on
``(A^H A + D) X = A^H Y + ...``, with ``A`` the SENSE operator and ``D`` a diagonal.

The normal operator is composed from the operator algebra (``A.gram + Diagonal(w)``) and solved
by the project's one conjugate gradient (:func:`lfmri_core.physics.cg.conjugate_gradient`).
"""

from __future__ import annotations

import torch

from lfmri_core.errors import InputError
from lfmri_core.physics.cg import conjugate_gradient
from lfmri_core.physics.operator import Diagonal
from lfmri_core.physics.sense import SenseOperator

__all__ = ["conjugate_gradient", "solve_data_consistency"]


def solve_data_consistency(
    operator: SenseOperator,
    adjoint_data: torch.Tensor,
    x0: torch.Tensor,
    denoised: torch.Tensor,
    mu1: torch.Tensor,
    *,
    lesion_target: torch.Tensor | None = None,
    cam: torch.Tensor | None = None,
    mu2: torch.Tensor | None = None,
    iterations: int = 5,
    relax_denoiser: bool = False,
    gram_x0: torch.Tensor | None = None,
    return_gram: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """One LF-MRI data-consistency step by CG, warm-started at ``x0``.

    Solves ``(A^H A + 2 mu1 I + 2 mu2 diag(cam^2)) X = A^H Y + 2 mu1 Z + 2 mu2 cam^2 U``, the
    minimiser of ``1/2 ||A X - Y||^2 + mu1 ||X - Z||^2 + mu2 ||cam * (X - U)||^2``. Without
    ``lesion_target``/``cam``/``mu2`` the lesion term is left out. With ``relax_denoiser`` the
    denoiser's weight is ``mu1 (1 - cam)`` per pixel instead of ``mu1``: inside a lesion the
    solution answers to the data and the lesion module, not to a denoiser that smooths small
    structures away (the system stays positive definite: ``mu1 (1 - c) + mu2 c^2 > 0`` for
    ``c`` in ``[0, 1]``).

    Parameters
    ----------
    operator
        The SENSE operator ``A``.
    adjoint_data
        ``A^H Y``, complex ``(batch, H, W)``.
    x0
        Warm start, complex ``(batch, H, W)``.
    denoised
        ``Z = D_w(X)``, complex ``(batch, H, W)``.
    mu1, mu2
        Positive scalars (0-d tensors).
    lesion_target
        ``U = G_u(X)``, complex ``(batch, H, W)``.
    cam
        Real ``(batch, H, W)`` lesion map in ``[0, 1]``.
    iterations
        CG steps.
    relax_denoiser
        Weigh the denoiser term by ``1 - cam`` (needs the lesion term).
    gram_x0
        ``A^H A x0`` if the caller has it, e.g. from the previous stage's ``return_gram``: the
        initial residual then needs no application of ``A^H A`` (one fewer pair of coil FFTs).
    return_gram
        Also return ``A^H A X``, read off CG's residual (``rhs - r - D X``, equal to rounding)
        at no cost, for the next stage's ``gram_x0``.

    Returns
    -------
    torch.Tensor or tuple
        ``X``, or ``(X, A^H A X)`` with ``return_gram``.
    """
    lesion = lesion_target is not None
    if lesion != (cam is not None) or lesion != (mu2 is not None):
        raise InputError("solve_data_consistency needs lesion_target, cam and mu2 together or none of them")
    if relax_denoiser and not lesion:
        raise InputError("relax_denoiser needs the lesion term (lesion_target, cam and mu2)")
    if lesion:
        assert cam is not None and mu2 is not None
        denoiser_weight = 2 * mu1 * (1 - cam) if relax_denoiser else 2 * mu1
        weight = 2 * mu2 * cam**2
        rhs = adjoint_data + denoiser_weight * denoised + weight * lesion_target
        diagonal = denoiser_weight + weight
    else:
        diagonal = 2 * mu1
        rhs = adjoint_data + diagonal * denoised
    normal_x0 = None if gram_x0 is None else gram_x0 + diagonal * x0
    if not return_gram:
        return conjugate_gradient(operator.gram + Diagonal(diagonal), rhs, x0, iterations, normal_x0=normal_x0)
    x, residual = conjugate_gradient(operator.gram + Diagonal(diagonal), rhs, x0, iterations, normal_x0=normal_x0,
                                     residual=True)
    return x, rhs - residual - diagonal * x
