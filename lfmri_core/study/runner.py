"""Run the evaluation: every volume x acceleration x method, scored, and Net_c on the results.

For each volume of the test set and each acceleration, the volume is undersampled with
fastMRI's ``random`` line mask (centre fraction 0.08 at 4x, 0.04 at 8x) seeded per file as
fastMRI does (the seed comes from the file name, so every method sees the same mask), and
reconstructed with each method through :func:`~lfmri_core.recon.pipeline.reconstruct_volume`
(classical methods that need coil maps get ESPIRiT maps; learned methods compute their own).
Each reconstruction is scored per volume with :func:`~lfmri_core.evaluation.score_volume`
against the file's ``reconstruction_rss`` (PSNR/SSIM as fastMRI, LF-PSNR/LF-SSIM inside the
boxes) and per slice. When Net_c is available it classifies every reconstructed slice and every
fully sampled reference slice (lesion probability ``sigmoid(logit_0)``) and its class
activation map is checked against the boxes (pointing game, energy inside the boxes).

LF-MRI with other numbers of stages (the stage ablation) is run on the same volumes and masks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from lfmri_core.device import resolve_device
from lfmri_core.errors import InputError
from lfmri_core.evaluation import Scores, score_volume
from lfmri_core.io.annotations import ImageLabel, LesionBox
from lfmri_core.io.volume import KSpaceVolume, open_volume
from lfmri_core.masks import MaskSpec
from lfmri_core.coils import finding_kind
from lfmri_core.metrics.cam import cam_localisation, check_pointing_tolerance, pointing_distance
from lfmri_core.metrics.lesion import lesion_mask, lf_psnr_slice
from lfmri_core.models.classifier import LesionClassifier
from lfmri_core.models.inputs import MODEL_MAPS
from lfmri_core.pipeline import SliceResult, classify, lesion_probability, run_slices
from lfmri_core.pipeline.classifier import gated_saliency
from lfmri_core.progress import Cancel, Progress
from lfmri_core.recon.reference import reference_image
from lfmri_core.study.plan import EvaluationPlan, center_fraction_for
from lfmri_core.study.testset import EvaluationSet, EvaluationVolume

__all__ = ["REFERENCE", "EvaluationResults", "FindingScore", "SliceRow", "VolumeResult", "run_evaluation"]

REFERENCE = "fully sampled"
"""Source name of the fully sampled reference images in :class:`SliceRow`."""

StudyProgress = Callable[[int, int, str], None]
"""``progress(done, total, what)``: slices reconstructed so far, of all, and what runs now."""


@dataclass(frozen=True)
class VolumeResult:
    """Scores of one volume reconstructed by one method at one acceleration.

    Attributes
    ----------
    volume, contrast
        File stem and contrast.
    method
        Registered method name.
    stages
        ``T`` of an LF-MRI stage-ablation run, else None.
    acceleration, achieved_acceleration
        Nominal and achieved acceleration of the mask.
    scores
        :func:`~lfmri_core.evaluation.score_volume` of the slices evaluated.
    seconds_per_slice
        Mean wall time per slice (coil maps included).
    coil_maps
        The coil-map method used (``"nlinv"`` where ESPIRiT's maps failed their checks), or
        None for methods without maps.
    coil_map_warnings
        What the coil-map checks found (:mod:`lfmri_core.coils.checks`), each line once.
    """

    volume: str
    contrast: str
    method: str
    stages: int | None
    acceleration: float
    achieved_acceleration: float
    scores: Scores
    seconds_per_slice: float
    coil_maps: str | None = None
    coil_map_warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["scores"] = self.scores.as_dict()
        return out


@dataclass(frozen=True)
class FindingScore:
    """One finding of one slice (the boxes that share a label): how well a source restored it and
    whether Net_c's CAM found it. A slice with boxes of two labels has two.

    Attributes
    ----------
    label
        The boxes' label (fastMRI+ ``label``, e.g. ``"Meniscus Tear"``).
    pixels
        Pixels covered by the union of these boxes.
    lf_psnr
        LF-PSNR inside these boxes alone (NaN for the reference).
    pointing_distance
        Pixels from the CAM's maximum to the nearest of these boxes (0 inside one); None
        without a CAM.
    """

    label: str
    pixels: int
    lf_psnr: float
    pointing_distance: float | None = None


@dataclass(frozen=True)
class SliceRow:
    """One slice, from one source (a method's reconstruction or the fully sampled reference): a
    row of the study's per-slice table. A method's numbers are those of the slice pipeline's
    :class:`~lfmri_core.pipeline.SliceResult`, the numbers the viewers show.

    Attributes
    ----------
    volume, contrast, slice
        Where it comes from (volume slice index).
    source
        Method name, or :data:`REFERENCE`.
    acceleration
        None for the reference.
    label
        Image-level label: True if the slice has a lesion box, False if not, None when the
        file was not reviewed.
    num_boxes
        Non-empty boxes on the slice.
    psnr, ssim, lf_psnr, lf_ssim
        Slice metrics on the volume's data range (NaN for the reference; LF metrics NaN
        without boxes).
    logit, probability
        Net_c's class-0 logit and ``sigmoid(logit)``; NaN without a classifier.
    pointing_hit
        Pointing game of Net_c's CAM (None on slices without boxes or without a classifier).
    energy_fraction
        CAM energy inside the boxes (None on slices without boxes or without a classifier).
    pointing_distance
        Pixels from the CAM's maximum to the nearest box (0 inside one, inf for a CAM that
        points nowhere; None where ``pointing_hit`` is None).
    prior_distance
        The same distance for the centre prior, a map whose only maximum is a fixed pixel
        (``prior_center`` of :func:`run_evaluation`); it does not depend on the source. None on
        slices without boxes.
    refined_distance
        The same distance for Net_c's refined pointer (the CAM-gated gradient saliency,
        :func:`~lfmri_core.pipeline.classifier.gated_saliency`); None where ``pointing_hit`` is
        None.
    findings
        The slice's findings, one per box label in label order (empty without boxes).
    """

    volume: str
    contrast: str
    slice: int
    source: str
    acceleration: float | None
    label: bool | None
    num_boxes: int
    psnr: float
    ssim: float
    lf_psnr: float
    lf_ssim: float
    logit: float
    probability: float
    pointing_hit: bool | None
    energy_fraction: float | None
    pointing_distance: float | None = None
    prior_distance: float | None = None
    refined_distance: float | None = None
    findings: tuple[FindingScore, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class EvaluationResults:
    """Everything :func:`run_evaluation` measured.

    Attributes
    ----------
    volumes
        Main methods, one entry per volume, acceleration and method.
    slices
        Per-slice results of the main methods and of the reference.
    stages
        Stage ablation: LF-MRI with each ``T``, per volume and acceleration.
    plan
        What was run.
    device
        Torch device used.
    seconds
        Total wall time.
    has_classifier
        True when Net_c ran (classifier and CAM columns are filled).
    """

    volumes: tuple[VolumeResult, ...]
    slices: tuple[SliceRow, ...]
    stages: tuple[VolumeResult, ...]
    plan: EvaluationPlan
    device: str
    seconds: float
    has_classifier: bool


def _label(value: ImageLabel) -> bool | None:
    return None if value is ImageLabel.UNKNOWN else value is ImageLabel.POSITIVE


def _slice_boxes(volume: EvaluationVolume, index: int) -> list[LesionBox]:
    return [b for b in volume.boxes if b.slice == index and not b.is_empty]


class _VolumeRun:
    """One open test volume: its reference, and how its results are made."""

    def __init__(self, volume: EvaluationVolume, vol: KSpaceVolume, classifier: LesionClassifier | None,
                 device: torch.device, tolerance: float, prior_center: tuple[float, float] | None) -> None:
        self.volume = volume
        self.vol = vol
        self.classifier = classifier
        self.device = device
        self.tolerance = tolerance
        self.indices = list(volume.slices)
        if vol.info.attrs.get("format") == "ismrmrd":
            # Raw data holds no reference: the RSS of its fully sampled k-space, as fastMRI makes
            # reconstruction_rss (lfmri_core.recon.reference).
            full_target = reference_image(vol)[0]
        else:
            full_target = vol.target_volume("reconstruction_rss")
        if full_target is None:
            raise InputError(f"{volume.path.name} has no reconstruction_rss reference to score against")
        # The data range is the whole volume's maximum, also when only some slices are scored.
        self.maxval = float(full_target.max())
        self.full_target = full_target
        self.target = full_target[self.indices]
        position = {s: n for n, s in enumerate(self.indices)}
        self.local_boxes = [LesionBox(position[b.slice], b.label, b.row0, b.row1, b.col0, b.col1)
                            for b in volume.boxes if b.slice in position]
        # The centre prior: a map whose only maximum is the given pixel (default the frame's centre).
        frame = self.target.shape[1:]
        row, col = (frame[0] // 2, frame[1] // 2) if prior_center is None else (
            int(math.floor(prior_center[0] + 0.5)), int(math.floor(prior_center[1] + 0.5)))
        if not (0 <= row < frame[0] and 0 <= col < frame[1]):
            raise InputError(f"--prior-center {row} {col} lies outside the {frame[0]} x {frame[1]} frame of "
                             f"{volume.path.name}")
        self.prior_map = np.zeros(frame, dtype=np.float32)
        self.prior_map[row, col] = 1.0

    def reconstruct(
        self,
        method: str,
        acceleration: float,
        params: dict[str, object],
        stage_count: int | None,
        *,
        progress: Progress,
        cancel: Cancel | None,
        label: str | None = None,
        explain: bool = True,
    ) -> tuple[VolumeResult, list[SliceResult]]:
        """Undersample (random mask, per-file seed), reconstruct with the registered ``method``
        through the slice pipeline and score the volume; the result is recorded under ``label``
        (default: the method). With ``explain``, each slice is classified by Net_c and scored
        against the reference as well (the per-slice results)."""
        spec = MaskSpec("random", acceleration, center_fraction_for(acceleration))
        results = list(run_slices(
            self.vol, self.indices, spec, method, method_params=params, device=self.device,
            classifier=self.classifier if explain else None, reference=self.full_target if explain else None,
            maxval=self.maxval, boxes=self.volume.boxes, progress=progress, cancel=cancel, warn=True))
        images = np.stack([r.image for r in results])
        scores = score_volume(self.target, images, self.volume.boxes, self.indices, maxval=self.maxval)
        estimated = [r.coil_maps for r in results if r.coil_maps is not None and r.coil_maps != MODEL_MAPS]
        warned: list[str] = []
        for line in (line for r in results for line in r.coil_map_warnings):
            if finding_kind(line) not in {finding_kind(w) for w in warned}:
                warned.append(line)
        row = VolumeResult(self.volume.name, self.volume.contrast, label or method, stage_count, acceleration,
                           results[0].mask.achieved_acceleration if results[0].mask is not None else acceleration,
                           scores, float(np.mean([r.recon_seconds for r in results])),
                           ", ".join(dict.fromkeys(estimated)) or None, tuple(warned))
        return row, results

    def reference_rows(self) -> list[SliceRow]:
        """The fully sampled reference's rows: Net_c on the reference slices (no metrics)."""
        nan = float("nan")
        found = classify(self.classifier, self.target, device=self.device) if self.classifier is not None else None
        pointers = self._pointers(self.target, self.indices)
        return [self._row(index, REFERENCE, None, psnr=nan, ssim=nan, lf_psnr=nan, lf_ssim=nan,
                          cam=None if found is None else found.cams[n],
                          logit=None if found is None else float(found.logits[n, 0]), pointer=pointers.get(n),
                          image=None)
                for n, index in enumerate(self.indices)]

    def slice_rows(self, results: list[SliceResult], source: str, acceleration: float) -> list[SliceRow]:
        """The rows of a method's slices: the pipeline's numbers, as the viewers show them."""
        pointers: dict[int, np.ndarray] = {}
        if results and results[0].cam is not None:
            pointers = self._pointers(np.stack([r.image for r in results]), [r.slice for r in results])
        return [self._row(r.slice, source, acceleration, psnr=r.psnr, ssim=r.ssim, lf_psnr=r.lf_psnr,
                          lf_ssim=r.lf_ssim, cam=r.cam,
                          logit=None if r.class_logits is None else float(r.class_logits[0]), pointer=pointers.get(n),
                          image=r.image)
                for n, r in enumerate(results)]

    def _pointers(self, images: np.ndarray, slices: list[int]) -> dict[int, np.ndarray]:
        """Net_c's refined pointer (:func:`gated_saliency`) on those of the images ``(n, rh, rw)``
        of volume slices ``slices`` that have boxes, by position in ``images``; {} without Net_c."""
        if self.classifier is None:
            return {}
        boxed = [n for n, index in enumerate(slices) if _slice_boxes(self.volume, index)]
        if not boxed:
            return {}
        maps = gated_saliency(self.classifier, images[boxed], device=self.device)
        return dict(zip(boxed, maps))

    def _row(self, index: int, source: str, acceleration: float | None, *, psnr: float, ssim: float, lf_psnr: float,
             lf_ssim: float, cam: np.ndarray | None, logit: float | None, pointer: np.ndarray | None,
             image: np.ndarray | None) -> SliceRow:
        boxes = _slice_boxes(self.volume, index)
        nan = float("nan")
        where = cam_localisation(cam, boxes, self.tolerance) if cam is not None and boxes else None
        return SliceRow(
            volume=self.volume.name, contrast=self.volume.contrast, slice=index, source=source,
            acceleration=acceleration, label=_label(self.volume.labels[index]), num_boxes=len(boxes),
            psnr=float(psnr), ssim=float(ssim), lf_psnr=float(lf_psnr), lf_ssim=float(lf_ssim),
            logit=nan if logit is None else logit, probability=nan if logit is None else lesion_probability(logit),
            pointing_hit=None if where is None else where.hit, energy_fraction=None if where is None else where.energy,
            pointing_distance=None if where is None else where.distance_px,
            prior_distance=pointing_distance(self.prior_map, boxes) if boxes else None,
            refined_distance=pointing_distance(pointer, boxes) if pointer is not None and where is not None else None,
            findings=self._findings(index, boxes, image, cam),
        )

    def _findings(self, index: int, boxes: list[LesionBox], image: np.ndarray | None,
                  cam: np.ndarray | None) -> tuple[FindingScore, ...]:
        """Each label's boxes of slice ``index`` scored on their own: LF-PSNR of ``image`` (None:
        the reference, NaN) on the volume's data range, and the CAM's distance to them."""
        reference = self.full_target[index]
        out = []
        for label in sorted({b.label for b in boxes}):
            own = [b for b in boxes if b.label == label]
            out.append(FindingScore(
                label=label, pixels=int(lesion_mask(own, index, reference.shape).sum()),
                lf_psnr=float("nan") if image is None else lf_psnr_slice(reference, image, own, self.maxval),
                pointing_distance=None if cam is None else pointing_distance(cam, own)))
        return tuple(out)


class _Counter:
    def __init__(self, total: int, progress: StudyProgress | None) -> None:
        self.done = 0
        self.total = total
        self.progress = progress

    def callback(self, what: str) -> Progress:
        base = self.done

        def update(done: int, _total: int) -> None:
            self.done = base + done
            if self.progress is not None:
                self.progress(self.done, self.total, what)

        return update


def run_evaluation(
    evaluation_set: EvaluationSet,
    plan: EvaluationPlan,
    *,
    device: str | torch.device = "auto",
    pointing_tolerance: float = 0.0,
    prior_center: tuple[float, float] | None = None,
    progress: StudyProgress | None = None,
    cancel: Cancel | None = None,
) -> EvaluationResults:
    """Reconstruct, score and classify (see the module docstring).

    Parameters
    ----------
    evaluation_set
        The test volumes (:mod:`lfmri_core.study.testset`).
    plan
        Methods, weights and accelerations (:func:`~lfmri_core.study.plan.plan_evaluation`).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    pointing_tolerance
        Pixels of slack of the pointing game (0: the CAM maximum must lie in a box).
    prior_center
        ``(row, col)`` in the recon frame of the centre prior's maximum, rounded to the nearest
        pixel (for example the mean box centre of the training annotations); default the
        centre ``(rh // 2, rw // 2)`` of each volume's frame.
    progress
        Called after every reconstructed slice.
    cancel
        Polled by the reconstructions; True stops the run with
        :class:`~lfmri_core.recon.Cancelled`.
    """
    from lfmri_core.models.weights import load_weights

    check_pointing_tolerance(pointing_tolerance)
    if prior_center is not None and (len(prior_center) != 2 or not all(0 <= v < math.inf for v in prior_center)):
        raise InputError(f"the centre prior must be a (row, col) of finite numbers >= 0, got {prior_center!r}")
    start = time.perf_counter()
    dev = resolve_device(device)
    classifier = None
    if plan.classifier is not None:
        classifier = load_weights(plan.classifier.path, kind="classifier", device=dev)
    main_lfmri = plan.weights.get("lfmri")
    reused = {t for t, f in plan.stage_weights.items()
              if main_lfmri is not None and "lfmri" in plan.methods and f.path == main_lfmri.path}
    stage_runs = [t for t in plan.stage_weights if t not in reused]
    runs_per_setting = len(plan.methods) + len(stage_runs)
    counter = _Counter(
        sum(len(v.slices) for v in evaluation_set.volumes) * len(plan.accelerations) * runs_per_setting, progress)

    volumes: list[VolumeResult] = []
    slices: list[SliceRow] = []
    stages: list[VolumeResult] = []
    for volume in evaluation_set.volumes:
        with open_volume(volume.path) as vol:
            run = _VolumeRun(volume, vol, classifier, dev, pointing_tolerance, prior_center)
            slices += run.reference_rows()
            for acceleration in plan.accelerations:
                for method in plan.methods:
                    row, results = run.reconstruct(
                        plan.registered_method(method), acceleration, plan.method_params(method), None, label=method,
                        progress=counter.callback(f"{method} {acceleration:g}x {volume.name}"), cancel=cancel)
                    volumes.append(row)
                    slices += run.slice_rows(results, method, acceleration)
                    if method == "lfmri":
                        stages += [replace(row, stages=t) for t in sorted(reused)]
                for t in stage_runs:
                    row, _ = run.reconstruct(
                        "lfmri", acceleration, {"weights": plan.stage_weights[t].path}, t, explain=False,
                        progress=counter.callback(f"lfmri T={t} {acceleration:g}x {volume.name}"), cancel=cancel)
                    stages.append(row)
    stages.sort(key=lambda r: (r.stages or 0, r.acceleration, r.volume))
    return EvaluationResults(tuple(volumes), tuple(slices), tuple(stages), plan, str(dev),
                             time.perf_counter() - start, classifier is not None)
