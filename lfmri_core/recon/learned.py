"""Learned reconstruction methods: ``lfmri``, ``unrolled-no-focus``, ``unet`` and ``lfmri-oracle``.

``lfmri-oracle`` runs an LF-MRI network trained with the oracle focus (the annotated boxes in
place of Net_c's CAM, ``lfmri train lfmri --focus oracle``); it needs the boxes as a ``focus``
map and exists for the evaluation of the lesion mechanism's ceiling. No weights are shipped
for it.

Each runs a trained model (:mod:`lfmri_core.models`) read from a safetensors weights file
(:mod:`lfmri_core.models.weights`): the one passed as ``weights=``, or else the file shipped in
:mod:`lfmri_core.weights`. Like every learned model in training, it sees coil maps from
:func:`~lfmri_core.models.model_sensitivities` (low-resolution maps from the fully sampled
centre), so these methods need no maps from the caller (``needs_sensitivities=False``).

Parameters (``method_params``): :class:`LearnedParams` (``weights``, ``batch_size``).

Loaded models are cached by (file, modification time, size, device): the viewers reconstruct
one slice per call, and a file is read once per device until it changes on disk.

>>> recon = build_method("lfmri", weights="lfmri.safetensors")            # doctest: +SKIP
>>> image = recon(masked_kspace, mask)    # complex (slices, H, W)          # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

import lfmri_core.weights as shipped
from lfmri_core.errors import InputError
from lfmri_core.models.inputs import model_sensitivities
from lfmri_core.models.unet_recon import UNetRecon
from lfmri_core.models.unrolled import LFMRINet
from lfmri_core.models.weights import kind_of, load_weights
from lfmri_core.recon.registry import (
    CancelCallback,
    Cancelled,
    ProgressCallback,
    register_method,
)

WeightsArg = str | os.PathLike[str] | None

DEFAULT_BATCH_SIZE = 8
"""Slices per forward pass."""

MODEL_CACHE_SIZE = 8
"""Loaded models kept (least recently used dropped first)."""


@dataclass(frozen=True)
class LearnedMethodSpec:
    """What a learned method needs from its weights file.

    Attributes
    ----------
    method
        Registered method name.
    kind
        Model kind the file must hold (``"lfmri"`` or ``"unet"``).
    lesion_focus
        For kind ``"lfmri"``: whether the network must have the lesion-focused module.
    shipped_name
        Name of its shipped weights (:func:`lfmri_core.weights.shipped_weights`); None when
        none are shipped.
    needs
        The model it needs, in words, for messages.
    focus
        For kind ``"lfmri"`` with lesion focus: ``"cam"`` or ``"oracle"``.
    """

    method: str
    kind: str
    lesion_focus: bool | None
    shipped_name: str | None
    needs: str
    focus: str | None = None


LEARNED_METHODS: dict[str, LearnedMethodSpec] = {
    spec.method: spec
    for spec in (
        LearnedMethodSpec("unet", "unet", None, "unet", "a U-Net model (kind 'unet')"),
        LearnedMethodSpec("unrolled-no-focus", "lfmri", False, "unrolled-no-focus",
                          "an unrolled network without lesion focus (kind 'lfmri', lesion_focus false)"),
        LearnedMethodSpec("lfmri", "lfmri", True, "lfmri",
                          "an LF-MRI network with lesion focus (kind 'lfmri', lesion_focus true)", focus="cam"),
        LearnedMethodSpec("lfmri-oracle", "lfmri", True, None,
                          "an LF-MRI network with the oracle box focus (kind 'lfmri', focus 'oracle')", focus="oracle"),
    )
}
"""The learned methods of the core, by name."""


def _spec(method: str) -> LearnedMethodSpec:
    try:
        return LEARNED_METHODS[method]
    except KeyError:
        raise InputError(f"{method!r} is not a learned method; learned methods: {', '.join(LEARNED_METHODS)}") from None


def weights_installed(method: str) -> bool:
    """Whether the shipped weights of the learned ``method`` are installed."""
    name = _spec(method).shipped_name
    return name is not None and shipped.shipped_weights(name) is not None


def installed_learned_methods() -> list[str]:
    """The learned methods whose shipped weights are installed, in registration order."""
    return [name for name in LEARNED_METHODS if weights_installed(name)]


def resolve_weights(method: str, weights: WeightsArg = None) -> Path:
    """The weights file the learned ``method`` will read.

    Parameters
    ----------
    method
        ``"lfmri"``, ``"unrolled-no-focus"`` or ``"unet"``.
    weights
        A weights file, or None for the shipped one.

    Raises
    ------
    InputError
        When ``weights`` is None and no shipped weights are installed, or ``weights`` is not
        a path.
    """
    spec = _spec(method)
    if weights is None and spec.shipped_name is None:
        raise InputError(f"no weights are shipped for {method!r}; train them (`lfmri train lfmri --focus oracle ...`) "
                         "and pass weights=<file> (--weights on the command line)")
    if weights is None:
        assert spec.shipped_name is not None
        path = shipped.shipped_weights(spec.shipped_name)
        if path is None:
            raise InputError(
                f"no trained weights installed for {method!r} (expected {shipped.weights_path(spec.shipped_name)}); "
                f"train them with `lfmri train {method} ...` or pass weights=<file> (--weights on the command line)"
            )
        return path
    if not isinstance(weights, (str, os.PathLike)):
        raise InputError(f"weights must be a file path, got {type(weights).__name__}")
    return Path(weights)


# --- the model cache ---------------------------------------------------------------------------

_cache: OrderedDict[tuple[str, int, int, str], nn.Module] = OrderedDict()
_cache_lock = threading.Lock()


def _cache_key(path: Path, device: torch.device) -> tuple[str, int, int, str]:
    resolved = path.resolve()
    try:
        stat = resolved.stat()
    except OSError:
        stat = None
    # A missing file gets a key of its own; load_weights then reports it.
    return (str(resolved), stat.st_mtime_ns if stat else -1, stat.st_size if stat else -1, str(device))


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """The model in a weights file, on ``device``, in eval mode; cached.

    The cache key is the resolved path, the file's modification time and size, and the
    device, so a file rewritten by training is read again. Errors (a missing or bad file)
    are :class:`InputError` from :func:`~lfmri_core.models.load_weights` and are not cached.
    """
    path = Path(path)
    device = torch.device(device)
    key = _cache_key(path, device)
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model
    model = load_weights(path, device=device)
    with _cache_lock:
        _cache[key] = model
        _cache.move_to_end(key)
        while len(_cache) > MODEL_CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def clear_model_cache() -> None:
    """Forget every cached model (the next use reads its file again)."""
    with _cache_lock:
        _cache.clear()


def _check_model(spec: LearnedMethodSpec, model: nn.Module, path: Path) -> None:
    """One-line :class:`InputError` unless ``model`` is what ``spec.method`` runs."""
    if isinstance(model, LFMRINet):
        focus = model.config.lesion_focus
        oracle = focus and model.config.focus == "oracle"
        holds = (f"an unrolled network {'with' if focus else 'without'} lesion focus"
                 + (" (the oracle box focus)" if oracle else ""))
        if spec.kind == "lfmri" and focus == spec.lesion_focus and (not focus or model.config.focus == spec.focus):
            return
        if spec.kind == "lfmri":
            other = "lfmri-oracle" if oracle else "lfmri" if focus else "unrolled-no-focus"
            raise InputError(f"{path}: holds {holds}; method {spec.method!r} needs {spec.needs} (use method {other!r} for this file)")
    elif isinstance(model, UNetRecon):
        holds = "a U-Net model"
        if spec.kind == "unet":
            return
    else:
        holds = f"a model of kind {kind_of(model).name!r}"
    raise InputError(f"{path}: holds {holds}; method {spec.method!r} needs {spec.needs}")


# --- the method --------------------------------------------------------------------------------


class LearnedReconstruction:
    """A trained model as a reconstruction method (:class:`~lfmri_core.recon.ReconMethod`).

    Parameters
    ----------
    method
        ``"lfmri"``, ``"unrolled-no-focus"`` or ``"unet"``.
    weights
        The weights file (None: the shipped one). It is read and checked here, so a missing,
        malformed or mismatched file fails when the method is built, not mid-volume.
    batch_size
        Slices per forward pass.

    Raises
    ------
    InputError
        No such file and no shipped one; not a weights file; a model of another kind or
        architecture than the method runs.
    """

    def __init__(self, method: str, weights: WeightsArg = None, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.spec = _spec(method)
        self.weights = resolve_weights(method, weights)
        self.batch_size = batch_size
        _check_model(self.spec, load_model(self.weights, "cpu"), self.weights)

    @property
    def method(self) -> str:
        """The registered method name."""
        return self.spec.method

    def model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The model on ``device`` (cached), checked against the method."""
        model = load_model(self.weights, device)
        _check_model(self.spec, model, self.weights)
        return model

    def num_stages(self) -> int:
        """Progress steps per batch: the unrolled stages (1 for the U-Net)."""
        model = self.model("cpu")
        return model.config.num_stages if isinstance(model, LFMRINet) else 1

    def __call__(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor | None,
        *,
        sensitivities: torch.Tensor | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
        focus: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Reconstruct undersampled slices.

        Parameters
        ----------
        kspace
            Undersampled k-space, complex ``(slices, coils, H, W)``, unsampled entries 0; the
            model runs on its device.
        mask
            Boolean sampling mask broadcastable to ``kspace`` (``(1, W)`` or ``(H, W)``).
        sensitivities
            Coil maps ``(slices, coils, H, W)``. Leave None: the maps are then computed with
            :func:`~lfmri_core.models.model_sensitivities`, the maps the model was trained with.
            Pass only maps computed by that function (a caller that times them separately).
        progress
            ``progress(done, total)`` after each unrolled stage of each batch of slices
            (``total = batches * stages``; the U-Net counts one stage).
        cancel
            Polled before each batch and between stages; True raises :class:`Cancelled`.
        focus
            ``lfmri-oracle`` only (required there): the slices' oracle focus maps, real
            ``(slices, H, W)`` (:func:`~lfmri_core.models.focus.box_focus_maps`).

        Returns
        -------
        torch.Tensor
            Complex64 images ``(slices, H, W)`` (full field of view) on the k-space's device.
        """
        if not isinstance(kspace, torch.Tensor) or not kspace.is_complex() or kspace.ndim != 4:
            raise InputError(
                f"{self.method}: k-space must be a complex (slices, coils, H, W) tensor, got "
                f"{getattr(kspace, 'dtype', type(kspace).__name__)} {tuple(getattr(kspace, 'shape', ()))}"
            )
        kspace = kspace.to(torch.complex64)
        device = kspace.device
        model = self.model(device)
        if mask is not None:
            mask = mask.to(device)
        if sensitivities is not None:
            if not isinstance(sensitivities, torch.Tensor) or sensitivities.shape != kspace.shape:
                raise InputError(
                    f"{self.method}: coil maps of shape {tuple(getattr(sensitivities, 'shape', ()))} do not match "
                    f"k-space of shape {tuple(kspace.shape)}"
                )
            sensitivities = sensitivities.to(device=device, dtype=torch.complex64)
        oracle = self.spec.focus == "oracle"
        if oracle != (focus is not None):
            raise InputError(f"{self.method}: " + ("needs the lesion boxes' focus map (annotated data only)" if oracle
                                                   else "takes no focus map"))
        if focus is not None:
            if not isinstance(focus, torch.Tensor) or tuple(focus.shape) != (kspace.shape[0], *kspace.shape[-2:]):
                raise InputError(f"{self.method}: focus maps of shape {tuple(getattr(focus, 'shape', ()))} do not fit "
                                 f"k-space of shape {tuple(kspace.shape)}")
            focus = focus.to(device=device, dtype=torch.float32)
        stages = model.config.num_stages if isinstance(model, LFMRINet) else 1
        starts = range(0, kspace.shape[0], self.batch_size)
        total = len(starts) * stages
        done = 0

        def stage_done(stage: int, num_stages: int) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)
            if done < total and cancel is not None and cancel():
                raise Cancelled(f"{self.method} cancelled after stage {stage} of {num_stages} ({done} of {total} steps)")

        images = []
        with torch.inference_mode():
            for start in starts:
                if cancel is not None and cancel():
                    raise Cancelled(f"{self.method} cancelled after {start} of {kspace.shape[0]} slices")
                batch = kspace[start : start + self.batch_size]
                maps = (
                    model_sensitivities(batch, mask)
                    if sensitivities is None
                    else sensitivities[start : start + self.batch_size]
                )
                extra = {} if focus is None else {"focus": focus[start : start + self.batch_size]}
                images.append(model(batch, mask, maps, progress=stage_done, **extra).image)
        return torch.cat(images)

    def __repr__(self) -> str:
        return f"LearnedReconstruction({self.method!r}, weights={str(self.weights)!r}, batch_size={self.batch_size})"


@dataclass(frozen=True)
class LearnedParams:
    """Parameters of the learned methods (``lfmri``, ``unrolled-no-focus``, ``unet``).

    Attributes
    ----------
    weights
        The weights file; None reads the shipped one (:mod:`lfmri_core.weights`).
    batch_size
        Slices per forward pass, >= 1.
    """

    weights: WeightsArg = None
    batch_size: int = DEFAULT_BATCH_SIZE


def _build(method: str, params: dict[str, Any]) -> LearnedReconstruction:
    names = [f.name for f in fields(LearnedParams)]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise InputError(f"{method} has no parameter {', '.join(map(repr, unknown))}; its parameters: {', '.join(names)}")
    chosen = LearnedParams(**params)
    return LearnedReconstruction(method, chosen.weights, batch_size=chosen.batch_size)


@register_method("unet", "image-domain U-Net baseline", learned=True)
def _unet(**params: Any) -> LearnedReconstruction:
    return _build("unet", params)


@register_method("unrolled-no-focus", "unrolled network without lesion focus (ablation)", learned=True)
def _unrolled_no_focus(**params: Any) -> LearnedReconstruction:
    return _build("unrolled-no-focus", params)


@register_method("lfmri", "LF-MRI: unrolled network with CAM lesion focus", learned=True)
def _lfmri(**params: Any) -> LearnedReconstruction:
    return _build("lfmri", params)


@register_method("lfmri-oracle", "LF-MRI with the annotated boxes as its focus (an experiment; needs boxes)",
                 learned=True, needs_boxes=True)
def _lfmri_oracle(**params: Any) -> LearnedReconstruction:
    return _build("lfmri-oracle", params)
