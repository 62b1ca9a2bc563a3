"""Iteration capture: the images of a stepping solver, one per iteration, end where the normal
run ends (exactly), and show the solver converging."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lfmri_core.errors import InputError
from lfmri_core.inference import infer_slices
from lfmri_core.iterations import iterate_slices, iterative_methods
from lfmri_core.masks import make_mask
from lfmri_core.synthetic import SyntheticConfig, generate_volume


@pytest.fixture(scope="module")
def knee() -> tuple[np.ndarray, object]:
    """One slice of the synthetic knee (320 x 320, 2 coils) and a 4x random line mask."""
    volume = generate_volume(SyntheticConfig(num_slices=1, num_coils=2, seed=3))
    kspace = volume.kspace[0]
    mask = make_mask("random", kspace.shape, acceleration=4, center_fraction=0.08, seed=0)
    return kspace, mask


def _run(kspace: np.ndarray, mask: object, method: str, **kwargs: object) -> tuple[list, np.ndarray]:
    generator = iterate_slices(kspace, mask, method, device="cpu", recon_shape=(320, 320), **kwargs)
    frames = []
    while True:
        try:
            frames.append(next(generator))
        except StopIteration as stop:
            return frames, stop.value


@pytest.mark.parametrize(("method", "iterations"), [("cg-sense", 6), ("cs-wavelet", 5)])
def test_the_last_iterate_is_the_normal_result_exactly(knee: tuple, method: str, iterations: int) -> None:
    kspace, mask = knee
    params = {"iterations": iterations}
    frames, final = _run(kspace, mask, method, method_params=params)
    normal = infer_slices(kspace, mask, method, device="cpu", recon_shape=(320, 320), classifier=None,
                          method_params=params, warn=False).image
    assert [f.iteration for f in frames] == list(range(1, iterations + 1))
    assert all(f.total == iterations and f.image.shape == (1, 320, 320) and f.image.dtype == np.float32 for f in frames)
    np.testing.assert_array_equal(final, normal)
    np.testing.assert_array_equal(frames[-1].image, normal)
    # each frame is a different iterate, not one image repeated
    assert all(not np.array_equal(a.image, b.image) for a, b in itertools.pairwise(frames))


def test_cg_iterates_approach_the_reference(knee: tuple) -> None:
    """CG-SENSE's error against the fully sampled RSS image drops from the first iteration to
    the last (what the movie is meant to show)."""
    kspace, mask = knee
    frames, _ = _run(kspace, mask, "cg-sense", method_params={"iterations": 8})
    reference = infer_slices(kspace, np.ones(kspace.shape[-1], bool), "zero-filled", device="cpu",
                             classifier=None).image[0]
    errors = [float(np.linalg.norm(f.image[0] - reference)) for f in frames]
    assert errors[-1] < 0.95 * errors[0]


def test_every_keeps_one_in_n_and_the_last(knee: tuple) -> None:
    kspace, mask = knee
    frames, final = _run(kspace, mask, "cg-sense", method_params={"iterations": 7}, every=3)
    assert [f.iteration for f in frames] == [3, 6, 7]
    np.testing.assert_array_equal(frames[-1].image, final)


def test_methods_without_a_solver_are_refused(knee: tuple) -> None:
    kspace, mask = knee
    assert {"cg-sense", "cs-wavelet", "cs-tv"} <= set(iterative_methods())
    assert "zero-filled" not in iterative_methods()
    with pytest.raises(InputError, match="zero-filled does not iterate; iteration movies need one of cg-sense"):
        next(iterate_slices(kspace, mask, "zero-filled"))
    with pytest.raises(InputError, match="every must be an integer >= 1"):
        next(iterate_slices(kspace, mask, "cg-sense", every=0))
