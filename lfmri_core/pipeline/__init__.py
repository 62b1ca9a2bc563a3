"""The slice pipeline: the one path from a volume's k-space to a scored, explained slice.

Every caller reconstructs through it: the viewers' session controller (one slice and method
per step), ``lfmri recon`` (:func:`lfmri_core.recon.pipeline.reconstruct_volume`), ``lfmri
evaluate`` (:mod:`lfmri_core.study.runner`) and the in-memory call
:func:`lfmri_core.inference.infer_slices`. So the numbers a viewer shows for a slice are the
numbers ``lfmri evaluate`` writes for it.

For each group of slices (one, or :data:`LEARNED_SLICES_PER_CALL` for a learned method):

1. the sampling mask: the volume's stored one, or a :class:`~lfmri_core.masks.MaskSpec` built
   with the file's fastMRI seed and the header's padding (:func:`volume_mask`);
2. coil compression to virtual coils, when asked for;
3. coil maps, as :func:`coil_maps_for` decides (the learned methods' own low-resolution maps,
   estimated maps for the classical methods that need them, none for the others);
4. the method, and the magnitude centre-cropped to the recon size;
5. Net_c (:mod:`lfmri_core.pipeline.classifier`): CAM, class scores, lesion probability;
6. the metrics against the reference (:func:`lfmri_core.metrics.score_slice`: PSNR, SSIM, NMSE,
   LF-PSNR, LF-SSIM and the SSIM map).

:func:`run_slices` yields one :class:`SliceResult` per slice; :func:`reconstruct_batch` is steps
2-5 on k-space already in memory.

>>> with open_volume("file1000001.h5") as volume:                               # doctest: +SKIP
...     for result in run_slices(volume, [17], MaskSpec("random", 8, 0.04), "lfmri",
...                              classifier=SHIPPED, reference=reference_image(volume)[0]):
...         print(result.psnr, result.lf_psnr, result.lesion_probability)
"""

from lfmri_core.pipeline.classifier import (
    CLASSIFIER_BATCH,
    SHIPPED,
    Classification,
    ClassifierArg,
    classify,
    lesion_probability,
    load_classifier,
)
from lfmri_core.pipeline.masks import MaskArg, as_sampling_mask, volume_mask
from lfmri_core.pipeline.result import SliceResult
from lfmri_core.pipeline.run import (
    LEARNED_SLICES_PER_CALL,
    BatchResult,
    SliceSource,
    check_recon_shape,
    coil_maps_for,
    reconstruct_batch,
    run_slices,
)

__all__ = [
    "CLASSIFIER_BATCH",
    "LEARNED_SLICES_PER_CALL",
    "SHIPPED",
    "BatchResult",
    "Classification",
    "ClassifierArg",
    "MaskArg",
    "SliceResult",
    "SliceSource",
    "as_sampling_mask",
    "check_recon_shape",
    "classify",
    "coil_maps_for",
    "lesion_probability",
    "load_classifier",
    "reconstruct_batch",
    "run_slices",
    "volume_mask",
]
