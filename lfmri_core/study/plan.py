"""What ``lfmri evaluate`` runs: the methods, their weights files, Net_c and the stage ablation.

Weights are looked up, for each learned method ``m``, in this order: ``<weights_dir>/m.safetensors``,
then the shipped file (:func:`lfmri_core.weights.shipped_weights`). A learned method with
neither is skipped with a one-line warning naming it. Net_c: ``classifier`` (a path), else
``<weights_dir>/net_c.safetensors``, else the shipped ``net_c``; without one the classifier and
CAM tables are left out. Stage ablation (LF-MRI with ``T`` stages): the ``stage_weights`` given,
else ``<weights_dir>/lfmri-t<T>.safetensors`` files, else the shipped ones
(:func:`lfmri_core.weights.shipped_stage_weights`); the main LF-MRI weights join at their own
``T`` (read from their configuration) unless that ``T`` is already given.

Every file is checked before any reconstruction starts: it must hold the model kind its role
needs (an LF-MRI network with lesion focus for ``lfmri``, without for ``unrolled-no-focus``, a
U-Net for ``unet``, a classifier for Net_c, an LF-MRI network with ``T`` stages for ``T``).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lfmri_core.errors import InputError
from lfmri_core.models.weights import CONFIG_KEY, KIND_KEY, read_weights_metadata
from lfmri_core.weights import shipped_stage_weights, shipped_weights

__all__ = [
    "CLASSIFIER_NAME",
    "DEFAULT_ACCELERATIONS",
    "DEFAULT_METHODS",
    "EvaluationPlan",
    "WeightsFile",
    "center_fraction_for",
    "method_label",
    "plan_evaluation",
]

DEFAULT_METHODS: tuple[str, ...] = ("zero-filled", "cs-wavelet", "unet", "unrolled-no-focus", "lfmri")
"""The paper's rows: zero filling, compressed sensing (wavelet), U-Net, the unrolled network
without lesion focus and LF-MRI."""

DEFAULT_ACCELERATIONS: tuple[float, ...] = (4.0, 8.0)

CLASSIFIER_NAME = "net_c"
"""Name of Net_c's weights (shipped file and ``--weights-dir`` file)."""

LABELS: dict[str, str] = {
    "zero-filled": "Zero-filled",
    "cs-wavelet": "CS (wavelet)",
    "unet": "U-Net",
    "unrolled-no-focus": "Unrolled, no lesion focus",
    "lfmri": "LF-MRI",
    "lfmri-oracle": "LF-MRI, oracle focus",
}

#: learned method -> (model kind in the file, required lesion_focus or None for any)
EXPECTED_KIND: dict[str, tuple[str, bool | None]] = {
    "lfmri": ("lfmri", True),
    "unrolled-no-focus": ("lfmri", False),
    "unet": ("unet", None),
    "lfmri-oracle": ("lfmri", True),
}

#: fastMRI's knee leaderboard centre fractions
CENTER_FRACTIONS: dict[float, float] = {4.0: 0.08, 8.0: 0.04}


def center_fraction_for(acceleration: float) -> float:
    """Fully sampled centre of the random mask: 0.08 at 4x and 0.04 at 8x as fastMRI;
    ``0.32 / acceleration`` for other accelerations (the same rule)."""
    return CENTER_FRACTIONS.get(float(acceleration), 0.32 / float(acceleration))


def method_label(method: str) -> str:
    """The row label of a method in the tables (``"LF-MRI"`` for ``lfmri``)."""
    return LABELS.get(method, method)


@dataclass(frozen=True)
class WeightsFile:
    """A weights file the evaluation uses, with what the report says about it.

    Attributes
    ----------
    role
        ``"lfmri"``, ``"net_c"``, ``"lfmri T=3"``...
    path
        The safetensors file.
    source
        Where it was found: ``"shipped"``, ``"--weights-dir"``, ``"--classifier"``, ``"--stage-weights"``.
    sha256
        Hex digest of the file.
    kind
        Model kind in the file's header.
    config
        The model configuration (JSON text) from the header.
    metadata
        Other header entries (training command, data, steps...).
    """

    role: str
    path: Path
    source: str
    sha256: str
    kind: str
    config: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def num_stages(self) -> int | None:
        """``T`` of an LF-MRI network, else None."""
        if self.kind != "lfmri":
            return None
        from lfmri_core.models.unrolled import LFMRIConfig

        return LFMRIConfig.from_json(self.config, source=str(self.path)).num_stages

    def describe(self) -> str:
        """The architecture in a few words (from the file's configuration)."""
        from lfmri_core.models.weights import model_kinds

        entry = model_kinds()[self.kind]
        return entry.describe(entry.config_type.from_json(self.config, source=str(self.path)))

    def as_dict(self) -> dict[str, object]:
        return {"role": self.role, "path": str(self.path), "source": self.source, "sha256": self.sha256,
                "kind": self.kind, "config": self.config, "metadata": dict(self.metadata)}


@dataclass(frozen=True)
class EvaluationPlan:
    """The resolved choices of one evaluation.

    Attributes
    ----------
    requested
        Methods asked for, in table order (skipped ones included, so tables can list them).
    methods
        Methods that will run.
    skipped
        Method -> why it does not run.
    weights
        Learned method -> its weights file.
    classifier
        Net_c, or None (no classifier and CAM tables).
    stage_weights
        ``T`` -> LF-MRI weights with ``T`` stages (empty: no stage ablation).
    accelerations
        Nominal accelerations of the random masks.
    variants
        Extra rows (``--variant NAME=PATH``): row name -> the registered method that runs its
        weights file (``lfmri``, ``lfmri-oracle``, ``unrolled-no-focus`` or ``unet``, from the
        file's model). Their names are in ``requested`` and ``methods`` like any method's.
    """

    requested: tuple[str, ...]
    methods: tuple[str, ...]
    skipped: Mapping[str, str]
    weights: Mapping[str, WeightsFile]
    classifier: WeightsFile | None
    stage_weights: Mapping[int, WeightsFile]
    accelerations: tuple[float, ...] = DEFAULT_ACCELERATIONS
    variants: Mapping[str, str] = field(default_factory=dict)

    def registered_method(self, name: str) -> str:
        """The registered method that runs the row ``name`` (itself, except for variants)."""
        return self.variants.get(name, name)

    def method_params(self, method: str) -> dict[str, object]:
        """``method_params`` of :func:`~lfmri_core.recon.pipeline.reconstruct_volume`."""
        return {"weights": self.weights[method].path} if method in self.weights else {}

    def weights_files(self) -> list[WeightsFile]:
        """Every distinct file used, main methods first."""
        files = [*self.weights.values(), *([self.classifier] if self.classifier else []), *self.stage_weights.values()]
        seen: set[tuple[str, str]] = set()
        unique = []
        for f in files:
            if (f.role, str(f.path)) not in seen:
                seen.add((f.role, str(f.path)))
                unique.append(f)
        return unique


def _shipped(name: str) -> Path | None:
    try:
        return shipped_weights(name)
    except InputError:
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_weights(path: str | os.PathLike[str], role: str, source: str) -> WeightsFile:
    """Read a weights file's header (kind, config, metadata) and digest; any problem is an
    :class:`InputError` naming ``role``."""
    path = Path(path)
    try:
        metadata = read_weights_metadata(path)
    except InputError as err:
        raise InputError(f"weights for {role}: {err}") from None
    kind = metadata.get(KIND_KEY)
    if kind is None or CONFIG_KEY not in metadata:
        raise InputError(f"weights for {role}: {path} is not an LF-MRI weights file (no model kind/config)")
    extra = {k: v for k, v in metadata.items() if k not in (KIND_KEY, CONFIG_KEY)}
    return WeightsFile(role, path, source, _sha256(path), kind, metadata[CONFIG_KEY], extra)


def _check_kind(file: WeightsFile, kind: str, lesion_focus: bool | None, stages: int | None = None) -> None:
    if file.kind != kind:
        raise InputError(f"weights for {file.role}: {file.path} holds a {file.kind} model, expected a {kind} model")
    if kind == "lfmri":
        from lfmri_core.models.unrolled import LFMRIConfig

        config = LFMRIConfig.from_json(file.config, source=str(file.path))
        if lesion_focus is not None and config.lesion_focus != lesion_focus:
            raise InputError(
                f"weights for {file.role}: {file.path} is an unrolled network with lesion focus "
                f"{'on' if config.lesion_focus else 'off'}, {file.role} needs it {'on' if lesion_focus else 'off'}"
            )
        if stages is not None and config.num_stages != stages:
            raise InputError(
                f"weights for {file.role}: {file.path} has {config.num_stages} stages, not {stages}"
            )


def variant_method(file: WeightsFile) -> str:
    """The registered method that runs a weights file: ``lfmri`` (CAM focus), ``lfmri-oracle``,
    ``unrolled-no-focus`` or ``unet``; a one-line :class:`InputError` for any other model."""
    if file.kind == "unet":
        return "unet"
    if file.kind == "lfmri":
        from lfmri_core.models.unrolled import LFMRIConfig

        config = LFMRIConfig.from_json(file.config, source=str(file.path))
        if not config.lesion_focus:
            return "unrolled-no-focus"
        return "lfmri-oracle" if config.focus == "oracle" else "lfmri"
    raise InputError(f"variant {file.role}: {file.path} holds a {file.kind} model, not a reconstruction network")


def plan_evaluation(
    methods: Sequence[str] | None = None,
    *,
    accelerations: Sequence[float] = DEFAULT_ACCELERATIONS,
    weights_dir: str | os.PathLike[str] | None = None,
    classifier: str | os.PathLike[str] | None = None,
    stage_weights: Mapping[int, str | os.PathLike[str]] | None = None,
    stage_ablation: bool = True,
    variants: Mapping[str, str | os.PathLike[str]] | None = None,
) -> EvaluationPlan:
    """Resolve methods and weights files (see the module docstring) and check them.

    Parameters
    ----------
    methods
        Registered method names; default :data:`DEFAULT_METHODS` (those not registered in
        this installation are skipped with a warning; a name given explicitly must exist).
    accelerations
        Nominal accelerations, each > 1.
    weights_dir
        Folder of ``<method>.safetensors``, ``net_c.safetensors`` and ``lfmri-t<T>.safetensors``.
    classifier
        Net_c weights file.
    stage_weights
        ``{T: path}`` for the stage ablation.
    stage_ablation
        False leaves the stage ablation out.
    variants
        Extra rows ``{name: weights file}``, each run by the learned method its model needs
        (see :func:`variant_method`): LF-MRI variants trained with other options, say.

    Raises
    ------
    InputError
        Unknown method, bad acceleration, missing folder or file, a file of the wrong kind.
    """
    # lfmri_core.recon registers every method (the learned ones included) when imported.
    from lfmri_core.recon import available_methods, method_info

    explicit = methods is not None
    requested = tuple(DEFAULT_METHODS if methods is None else methods)
    if not requested:
        raise InputError("--methods names no method")
    if len(set(requested)) != len(requested):
        raise InputError(f"--methods repeats a method: {' '.join(requested)}")
    accels = tuple(float(a) for a in accelerations)
    if not accels or any(not a > 1.0 for a in accels) or len(set(accels)) != len(accels):
        raise InputError(f"--accelerations must be distinct numbers > 1, got {' '.join(f'{a:g}' for a in accels) or 'none'}")
    folder = None
    if weights_dir is not None:
        folder = Path(weights_dir)
        if not folder.is_dir():
            raise InputError(f"--weights-dir {folder} is not a folder")

    skipped: dict[str, str] = {}
    weights: dict[str, WeightsFile] = {}
    for name in requested:
        if name not in available_methods():
            if explicit:
                method_info(name)  # raises the one-line "unknown method" error
            skipped[name] = "not available in this installation"
            warnings.warn(f"skipping {name}: the method is not available in this installation", UserWarning, stacklevel=2)
            continue
        if not method_info(name).learned:
            continue
        candidate = folder / f"{name}.safetensors" if folder is not None else None
        if candidate is not None and candidate.is_file():
            path, source = candidate, "--weights-dir"
        else:
            path, source = _shipped(name), "shipped"
        if path is None:
            skipped[name] = "no weights installed"
            warnings.warn(f"skipping {name}: no weights installed (give --weights-dir)", UserWarning, stacklevel=2)
            continue
        file = describe_weights(path, name, source)
        if name in EXPECTED_KIND:
            _check_kind(file, *EXPECTED_KIND[name])
            if variant_method(file) != name:
                raise InputError(f"weights for {name}: {file.path} is run by method {variant_method(file)!r}, not {name!r}")
        weights[name] = file
    variant_methods: dict[str, str] = {}
    for name, path in (variants or {}).items():
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise InputError(f"--variant name must be letters, digits, '-', '_' or '.', got {name!r}")
        if name in available_methods() or name in requested or name == CLASSIFIER_NAME:
            raise InputError(f"--variant {name}: the name is taken by a method; choose another")
        if not Path(path).is_file():
            raise InputError(f"--variant {name}: weights file {path} not found")
        file = describe_weights(path, name, "--variant")
        variant_methods[name] = variant_method(file)
        weights[name] = file
    requested = requested + tuple(variant_methods)
    run = tuple(m for m in requested if m not in skipped)

    net_c: WeightsFile | None = None
    if classifier is not None:
        net_c = describe_weights(classifier, CLASSIFIER_NAME, "--classifier")
    elif folder is not None and (folder / f"{CLASSIFIER_NAME}.safetensors").is_file():
        net_c = describe_weights(folder / f"{CLASSIFIER_NAME}.safetensors", CLASSIFIER_NAME, "--weights-dir")
    elif (shipped := _shipped(CLASSIFIER_NAME)) is not None:
        net_c = describe_weights(shipped, CLASSIFIER_NAME, "shipped")
    if net_c is not None:
        _check_kind(net_c, "classifier", None)

    stages: dict[int, WeightsFile] = {}
    if stage_ablation and "lfmri" not in available_methods():
        if stage_weights:
            raise InputError("--stage-weights: the lfmri method is not available in this installation")
        stage_ablation = False
    if stage_ablation:
        if stage_weights:
            sources = {int(t): (Path(p), "--stage-weights") for t, p in stage_weights.items()}
        else:
            found = {}
            if folder is not None:
                for path in folder.glob("lfmri-t*.safetensors"):
                    digits = path.name[len("lfmri-t"):-len(".safetensors")]
                    if digits.isdigit() and int(digits) > 0:
                        found[int(digits)] = (path, "--weights-dir")
            sources = found or {t: (p, "shipped") for t, p in shipped_stage_weights().items()}
        for t, (path, source) in sorted(sources.items()):
            if t < 1:
                raise InputError(f"--stage-weights: the number of stages must be >= 1, got {t}")
            file = describe_weights(path, f"lfmri T={t}", source)
            _check_kind(file, "lfmri", True, t)
            stages[t] = file
        main = weights.get("lfmri")
        if main is not None and main.num_stages not in stages:
            t = main.num_stages
            assert t is not None
            stages[t] = WeightsFile(f"lfmri T={t}", main.path, main.source, main.sha256, main.kind, main.config,
                                    main.metadata)
        stages = dict(sorted(stages.items()))
    return EvaluationPlan(requested, run, skipped, weights, net_c, stages, accels, variant_methods)
