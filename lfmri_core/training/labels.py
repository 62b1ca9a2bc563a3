"""Image-level (weak) labels for Net_c, derived from fastMRI+ annotations.

Net_c is trained with image-level labels only; the boxes of an annotation CSV serve solely to
say *whether* a slice holds a lesion (and of which type), never where. Per slice:

- class 0 ("any lesion"): 1 when the slice has at least one box, 0 when the file was reviewed
  (it is in the file list) and the slice has none;
- class ``k >= 1`` (optional, ``num_classes > 1``): 1 when the slice has a box labelled
  ``class_names[k - 1]``, else 0;
- every class is unknown (NaN) for a slice of a file that was not reviewed. Such slices are
  left out of classifier training.

For synthetic data the lesion types are :data:`lfmri_core.synthetic.LESION_LABELS`, in that
order; for other data the most frequent box labels (:func:`frequent_labels`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import FileAnnotations, ImageLabel

ANY_LESION = "any lesion"
"""Name of class 0."""


def slice_targets(annotations: FileAnnotations | None, num_slices: int, class_names: Sequence[str]) -> np.ndarray:
    """Image-level targets of every slice of one volume.

    Parameters
    ----------
    annotations
        The file's annotations; None (the file is in no CSV) makes every slice unknown.
    num_slices
        Slices of the volume.
    class_names
        Lesion-type names of classes ``1 .. K - 1`` (empty for a single "any lesion" class).

    Returns
    -------
    np.ndarray
        float32 ``(num_slices, 1 + len(class_names))``: 1 positive, 0 negative, NaN unknown.
    """
    targets = np.full((num_slices, 1 + len(class_names)), np.nan, dtype=np.float32)
    if annotations is None:
        return targets
    for s in range(num_slices):
        label = annotations.slice_label(s)
        if label is ImageLabel.UNKNOWN:
            continue
        targets[s] = 0.0
        if label is ImageLabel.POSITIVE:
            targets[s, 0] = 1.0
            on_slice = {box.label for box in annotations.boxes_on(s)}
            for k, name in enumerate(class_names, start=1):
                targets[s, k] = float(name in on_slice)
    return targets


def frequent_labels(annotations: Iterable[FileAnnotations], count: int) -> tuple[str, ...]:
    """The ``count`` most frequent box labels (by number of slices), ties by name.

    Raises :class:`InputError` when the annotations name fewer than ``count`` labels.
    """
    slices: Counter[str] = Counter()
    for ann in annotations:
        slices.update({(box.label, box.slice) for box in ann.boxes})
    per_label: Counter[str] = Counter(label for label, _ in slices)
    ranked = sorted(per_label, key=lambda name: (-per_label[name], name))
    if len(ranked) < count:
        raise InputError(
            f"{count + 1} classes need {count} lesion types, but the training annotations name only "
            f"{len(ranked)}" + (f" ({', '.join(ranked)})" if ranked else "")
        )
    return tuple(ranked[:count])


def positive_weights(targets: np.ndarray) -> np.ndarray:
    """``negatives / positives`` per class over the known entries of ``targets`` ``(n, K)``.

    The positive-class weight of a BCE-with-logits loss that balances each class; 1 for a
    class without positives or negatives.
    """
    known = ~np.isnan(targets)
    positives = np.sum((targets == 1) & known, axis=0)
    negatives = np.sum((targets == 0) & known, axis=0)
    weights = np.ones(targets.shape[1], dtype=np.float32)
    both = (positives > 0) & (negatives > 0)
    weights[both] = negatives[both] / positives[both]
    return weights
