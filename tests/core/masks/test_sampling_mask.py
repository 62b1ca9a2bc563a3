"""SamplingMask: properties, tensors, +0.0 masking, header padding, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastmri.data import subsample, transforms

from lfmri_core.errors import InputError
from lfmri_core.masks import LINE_MASKS, SamplingMask, available_masks, make_mask
from tests.conftest import devices, random_complex

SHAPES_2D = [(640, 368), (33, 101), (320, 320)]


def _mask(name: str, shape: tuple[int, int], acceleration: float = 4, center_fraction: float = 0.08, seed: int = 0) -> SamplingMask:
    return make_mask(name, shape, acceleration=acceleration, center_fraction=center_fraction, seed=seed)


@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("name", available_masks())
def test_center_is_fully_sampled(name: str, shape: tuple[int, int]) -> None:
    mask = _mask(name, shape)
    region = mask.pattern[mask.center]
    assert region.all()
    assert region.shape == (mask.num_low_frequencies,) * mask.pattern.ndim
    if mask.is_1d:
        assert mask.num_low_frequencies == round(shape[-1] * 0.08)
        assert mask.pattern.shape == (shape[-1],)
    else:
        assert mask.num_low_frequencies == round(min(shape) * 0.08)
        assert mask.pattern.shape == shape
    # the region contains DC (H // 2, W // 2) of the centered FFT
    dc = (shape[-1] // 2,) if mask.is_1d else (shape[0] // 2, shape[1] // 2)
    assert all(s.start <= d < s.stop for s, d in zip(mask.center, dc, strict=True))


def test_fractions_and_accelerations_are_consistent() -> None:
    mask = SamplingMask(np.array([1, 0, 0, 1, 1, 0, 0, 0], dtype=np.float32), "stored", 4, 2)
    assert mask.pattern.dtype == np.bool_ and mask.is_1d
    assert mask.num_sampled == 3
    assert mask.sampled_fraction == 3 / 8  # one division of the counts: exact
    assert mask.achieved_acceleration == 8 / 3
    assert mask.nominal_acceleration == 4.0
    assert mask.center == (slice(3, 5),)
    empty = SamplingMask(np.zeros(4, dtype=bool), "stored", 1, 0)
    assert empty.achieved_acceleration == float("inf")
    assert empty.pattern[empty.center].size == 0


def test_random_masks_reach_the_nominal_acceleration_on_average() -> None:
    for acc, cf in [(4, 0.08), (8, 0.04)]:
        fractions = [_mask("random", (640, 368), acc, cf, seed).sampled_fraction for seed in range(300)]
        # expected count is exactly W / acc; 300 draws put the mean within about 1 %
        assert np.mean(fractions) == pytest.approx(1 / acc, rel=0.02)


def test_pattern_is_a_read_only_copy() -> None:
    source = np.zeros(10, dtype=bool)
    source[4:6] = True
    mask = SamplingMask(source, "stored", 5, 2)
    source[0] = True
    assert not mask.pattern[0]
    with pytest.raises(ValueError, match="read-only"):
        mask.pattern[0] = True


def test_value_equality_and_hash() -> None:
    a = _mask("random", (640, 368), seed=1)
    b = _mask("random", (640, 368), seed=1)
    c = _mask("random", (640, 368), seed=2)
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    assert "random" in repr(a) and "achieved_acceleration" in repr(a)


@pytest.mark.parametrize(
    ("pattern", "num_low", "match"),
    [
        (np.zeros((2, 3, 4), dtype=bool), 0, "shape"),
        (np.zeros(0, dtype=bool), 0, "shape"),
        (np.array([0, 2, 1]), 0, "0 and 1"),
        (np.ones(5, dtype=bool), 6, "num_low_frequencies"),
        (np.ones(5, dtype=bool), -1, "num_low_frequencies"),
    ],
)
def test_bad_patterns_are_refused(pattern: np.ndarray, num_low: int, match: str) -> None:
    with pytest.raises(InputError, match=match):
        SamplingMask(pattern, "stored", 4, num_low)


def test_bad_nominal_acceleration_is_refused() -> None:
    with pytest.raises(InputError, match="acceleration"):
        SamplingMask(np.ones(4, dtype=bool), "stored", 0.5, 0)


# -- to_tensor / apply ---------------------------------------------------------------------


@pytest.mark.parametrize("device", devices())
def test_to_tensor_broadcasts_over_kspace(device: str) -> None:
    line = _mask("equispaced", (640, 368))
    t = line.to_tensor((2, 15, 640, 368), device=device)
    assert t.dtype == torch.bool and t.shape == (1, 368) and t.device.type == device
    assert np.array_equal(t.cpu().numpy()[0], line.pattern)
    grid = _mask("poisson", (64, 48))
    t2 = grid.to_tensor((3, 64, 48), device=device)
    assert t2.shape == (64, 48) and np.array_equal(t2.cpu().numpy(), grid.pattern)
    # the tensor is a copy: changing it leaves the mask alone
    t2.fill_(False)
    assert grid.pattern.any()


def test_to_tensor_refuses_mismatched_shapes() -> None:
    line = _mask("random", (640, 368))
    with pytest.raises(InputError, match="368"):
        line.to_tensor((640, 320))
    grid = _mask("gaussian", (64, 48))
    with pytest.raises(InputError, match=r"\(64, 48\)"):
        grid.to_tensor((48, 64))
    with pytest.raises(InputError, match="shape"):
        grid.to_tensor((48,))


def _signed_kspace(rng: np.random.Generator, shape: tuple[int, ...], complex_: bool) -> np.ndarray:
    data = random_complex(rng, shape) if complex_ else rng.standard_normal(shape).astype(np.float32)
    # every value negative in both parts: a multiply-by-zero would leave -0.0 everywhere
    return -(np.abs(data.real) + 1) - 1j * (np.abs(data.imag) + 1) if complex_ else -(np.abs(data) + 1)


def _assert_positive_zeros(masked: np.ndarray, keep: np.ndarray) -> None:
    for part in (masked.real, masked.imag) if np.iscomplexobj(masked) else (masked,):
        dropped = part[..., ~keep]
        assert np.all(dropped == 0)
        assert not np.signbit(dropped).any(), "unsampled entries must be +0.0, not -0.0"


@pytest.mark.parametrize("complex_", [True, False])
@pytest.mark.parametrize("name", ["random", "poisson"])
def test_apply_numpy_writes_positive_zeros(name: str, complex_: bool, rng: np.random.Generator) -> None:
    mask = _mask(name, (40, 36))
    kspace = _signed_kspace(rng, (2, 3, 40, 36), complex_).astype(np.complex64 if complex_ else np.float32)
    # the pitfall the mask must avoid: fastMRI's real (..., 2) view times a 0/1 mask
    real_view = kspace.view(np.float32)
    assert np.signbit(real_view * np.float32(0)).all()
    masked = mask.apply(kspace)
    assert isinstance(masked, np.ndarray) and masked.dtype == kspace.dtype and masked.shape == kspace.shape
    keep = np.broadcast_to(mask.pattern, kspace.shape[-2:])
    np.testing.assert_array_equal(masked[..., keep], kspace[..., keep])
    _assert_positive_zeros(masked, mask.pattern)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("complex_", [True, False])
@pytest.mark.parametrize("name", ["magic", "gaussian"])
def test_apply_torch_writes_positive_zeros(name: str, complex_: bool, device: str, rng: np.random.Generator) -> None:
    mask = _mask(name, (40, 36))
    data = _signed_kspace(rng, (2, 3, 40, 36), complex_).astype(np.complex64 if complex_ else np.float32)
    kspace = torch.from_numpy(data).to(device)
    masked = mask.apply(kspace)
    assert isinstance(masked, torch.Tensor) and masked.dtype == kspace.dtype and masked.device == kspace.device
    out = masked.cpu().numpy()
    keep = np.broadcast_to(mask.pattern, data.shape[-2:])
    np.testing.assert_array_equal(out[..., keep], data[..., keep])
    _assert_positive_zeros(out, mask.pattern)


def test_apply_refuses_mismatched_kspace(rng: np.random.Generator) -> None:
    mask = _mask("random", (40, 36))
    with pytest.raises(InputError, match="does not match"):
        mask.apply(random_complex(rng, (40, 35)))
    with pytest.raises(InputError, match="does not match"):
        mask.apply(torch.zeros(40, 35, dtype=torch.complex64))


# -- header padding ------------------------------------------------------------------------


@pytest.mark.parametrize("name", LINE_MASKS)
def test_padding_removes_the_unacquired_columns(name: str) -> None:
    mask = _mask(name, (640, 368))
    padded = mask.with_padding(17, 351)
    assert not padded.pattern[:17].any() and not padded.pattern[351:].any()
    np.testing.assert_array_equal(padded.pattern[17:351], mask.pattern[17:351])
    assert (padded.name, padded.nominal_acceleration, padded.num_low_frequencies) == (mask.name, 4.0, mask.num_low_frequencies)
    assert padded.pattern[padded.center].all()
    assert mask.with_padding(0, 368) == mask


def test_padding_matches_fastmri_apply_mask(rng: np.random.Generator) -> None:
    seed = tuple(map(ord, "file1000001.h5"))
    data = torch.from_numpy(rng.standard_normal((15, 640, 368, 2)).astype(np.float32))
    ref, ref_mask, _ = transforms.apply_mask(data, subsample.RandomMaskFunc([0.08], [4]), seed=seed, padding=(17, 351))
    ours = make_mask("random", (640, 368), acceleration=4, center_fraction=0.08, seed=seed).with_padding(17, 351)
    np.testing.assert_array_equal(ref_mask.numpy().reshape(-1).astype(bool), ours.pattern)
    np.testing.assert_array_equal(ref.numpy(), torch.view_as_real(ours.apply(torch.view_as_complex(data))).numpy())


@pytest.mark.parametrize(("left", "right"), [(-1, 300), (10, 369), (200, 100), (50, 50), (1.5, 300)])
def test_bad_padding_is_refused(left: float, right: int) -> None:
    with pytest.raises(InputError, match="padding"):
        _mask("random", (640, 368)).with_padding(left, right)  # type: ignore[arg-type]


def test_padding_is_for_line_masks_only() -> None:
    with pytest.raises(InputError, match="1-D"):
        _mask("poisson", (64, 64)).with_padding(2, 60)
