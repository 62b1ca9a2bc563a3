"""LF-MRI unrolled network: shapes, gradients, data-consistency solves, a learning check, UNet."""

from __future__ import annotations

import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.models import (
    ClassifierConfig,
    DenoiserCNN,
    DenoiserUNet,
    LFMRIConfig,
    LFMRINet,
    UNet,
    build_classifier,
    solve_data_consistency,
)
from lfmri_core.physics import SenseOperator
from tests.tolerances import assert_close_in_norm, rounding_rtol

SMALL_CLASSIFIER = ClassifierConfig(width=4)


def _config(**changes: object) -> LFMRIConfig:
    values: dict[str, object] = dict(num_stages=2, width=8, depth=3, cg_iterations=3, classifier=SMALL_CLASSIFIER)
    values.update(changes)
    return LFMRIConfig(**values)  # type: ignore[arg-type]


def _complex(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    return torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))


def _network_rtol(model: torch.nn.Module) -> float:
    """float32 rounding through a network, in norm: each convolution sums ``9 x in-channels``
    terms, and the layers' errors add up."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    terms = max(m.in_channels * m.kernel_size[0] * m.kernel_size[1] for m in convs)
    return rounding_rtol(torch.float32, terms=terms, steps=len(convs))


def _problem(
    batch: int = 2, coils: int = 4, size: int = 32, *, seed: int = 0, full: bool = False, normalised: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(kspace, mask, maps, image): smooth maps, a blob image, a line mask with a full centre."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    maps = []
    for c in range(coils):
        angle = 2 * torch.pi * c / coils
        magnitude = torch.exp(-((xx - torch.cos(torch.tensor(angle))) ** 2 + (yy - torch.sin(torch.tensor(angle))) ** 2))
        maps.append(magnitude * torch.exp(1j * (xx * c + 0.3 * yy)))
    sens = torch.stack(maps).to(torch.complex64)
    if normalised:
        sens = sens / torch.sqrt(torch.sum(sens.abs() ** 2, dim=0, keepdim=True))
    sens = sens.expand(batch, -1, -1, -1).clone()
    image = torch.exp(-((xx / 0.6) ** 2 + (yy / 0.4) ** 2)).to(torch.complex64)
    image = image * (1 + 0.1 * _complex((batch, size, size), gen))
    if full:
        mask = torch.ones(1, size, dtype=torch.bool)
    else:
        mask = torch.rand(1, size, generator=gen) < 0.4
        mask[:, size // 2 - 3 : size // 2 + 3] = True
    kspace = SenseOperator(sens, mask)(image)
    return kspace, mask, sens, image


@pytest.mark.parametrize("lesion_focus", [True, False])
def test_output_shapes_and_positive_mu(lesion_focus: bool) -> None:
    torch.manual_seed(0)
    net = LFMRINet(_config(lesion_focus=lesion_focus))
    kspace, mask, sens, _ = _problem()
    calls: list[tuple[int, int]] = []
    with torch.no_grad():
        out = net(kspace, mask, sens, progress=lambda s, t: calls.append((s, t)))
    assert out.image.shape == (2, 32, 32) and out.image.dtype == torch.complex64
    assert calls == [(1, 2), (2, 2)]
    assert out.mu1.shape == (2,) and bool((out.mu1 > 0).all())
    if lesion_focus:
        assert out.cam is not None and out.cam.shape == (2, 32, 32)
        assert out.mu2 is not None and bool((out.mu2 > 0).all())
        assert float(out.cam.min()) >= 0 and float(out.cam.max()) <= 1
    else:
        assert out.cam is None and out.mu2 is None
        assert net.lesion_nets is None and net.classifier is None and net.raw_mu2 is None


def test_gradients_reach_trainable_parts_not_classifier() -> None:
    torch.manual_seed(0)
    net = LFMRINet(_config()).train()
    assert not net.classifier.training  # type: ignore[union-attr]
    kspace, mask, sens, image = _problem()
    out = net(kspace, mask, sens)
    assert out.cam is not None and float(out.cam.detach().max()) > 0, "CAM is all zero; gradient test meaningless"
    (out.image - image).abs().pow(2).mean().backward()
    for name, module in (("D_w", net.denoisers), ("G_u", net.lesion_nets)):
        grads = [p.grad for p in module.parameters()]  # type: ignore[union-attr]
        assert all(g is not None for g in grads), name
        assert any(float(g.abs().sum()) > 0 for g in grads), name  # type: ignore[union-attr]
    assert net.raw_mu1.grad is not None and bool((net.raw_mu1.grad != 0).all())
    assert net.raw_mu2.grad is not None and bool((net.raw_mu2.grad != 0).all())
    assert all(not p.requires_grad and p.grad is None for p in net.classifier.parameters())  # type: ignore[union-attr]


def test_detached_cam_still_trains_lesion_net() -> None:
    torch.manual_seed(0)
    net = LFMRINet(_config(detach_cam=True))
    kspace, mask, sens, image = _problem()
    out = net(kspace, mask, sens)
    assert out.cam is not None and not out.cam.requires_grad
    (out.image - image).abs().pow(2).mean().backward()
    assert all(p.grad is not None for p in net.lesion_nets.parameters())  # type: ignore[union-attr]


def test_without_lesion_focus_has_no_lesion_parameters() -> None:
    with_focus = LFMRINet(_config())
    without = LFMRINet(_config(lesion_focus=False))
    names = {n for n, _ in without.named_parameters()}
    assert not any(n.startswith(("lesion_nets", "classifier", "raw_mu2")) for n in names)
    assert sum(p.numel() for p in without.parameters()) < sum(p.numel() for p in with_focus.parameters())


def _make_identity(net: LFMRINet) -> None:
    """Zero the last convolution of every D_w / G_u so each returns its input."""
    modules = list(net.denoisers) + (list(net.lesion_nets) if net.lesion_nets is not None else [])
    with torch.no_grad():
        for module in modules:
            module.net[-1].weight.zero_()
            module.net[-1].bias.zero_()


@pytest.mark.parametrize("lesion_focus", [False, True])
def test_dc_recovers_image_fully_sampled_with_vanishing_mu(lesion_focus: bool) -> None:
    # Unnormalised maps: A^H A = diag(sum |S_c|^2) is not the identity, so CG has work to do.
    kspace, mask, sens, image = _problem(batch=1, coils=4, size=16, full=True, normalised=False)
    net = LFMRINet(_config(lesion_focus=lesion_focus, num_stages=1, cg_iterations=60))
    _make_identity(net)
    with torch.no_grad():
        net.raw_mu1.fill_(-30.0)
        if net.raw_mu2 is not None:
            net.raw_mu2.fill_(-30.0)
        out = net(kspace, mask, sens)
    zero_filled = SenseOperator(sens, mask).adjoint(kspace)
    assert float((zero_filled - image).abs().max()) > 0.1  # the start is far from the truth
    # CG has converged (60 iterations for a diagonal system of condition ~4): what is left is
    # the operator's rounding (two FFTs, a sum over coils) times the condition number
    energy = sens.abs().square().sum(dim=1)
    condition = float(energy.max() / energy.min())
    rtol = condition * rounding_rtol(torch.complex64, fft_points=16 * 16, fft_passes=2, terms=4)
    assert_close_in_norm(out.image, image, rtol)


def test_dc_cg_matches_dense_solve() -> None:
    gen = torch.Generator().manual_seed(3)
    size, coils = 8, 2
    sens = _complex((1, coils, size, size), gen) * 0.5
    mask = torch.rand(1, size, generator=gen) < 0.5
    op = SenseOperator(sens, mask)
    y = op(_complex((1, size, size), gen))
    aty = op.adjoint(y)
    z, u, x0 = (_complex((1, size, size), gen) for _ in range(3))
    cam = torch.rand(1, size, size, generator=gen)
    mu1, mu2 = torch.tensor(0.3), torch.tensor(0.7)
    x_cg = solve_data_consistency(op, aty, x0, z, mu1, lesion_target=u, cam=cam, mu2=mu2, iterations=64)

    n = size * size
    basis = torch.eye(n, dtype=torch.complex64).reshape(n, size, size)
    gram = torch.stack([op.gram(b.unsqueeze(0)).reshape(n) for b in basis], dim=1).to(torch.complex128)
    weight = (2 * mu2 * cam.reshape(n) ** 2).to(torch.complex128)
    system = gram + 2 * mu1.item() * torch.eye(n, dtype=torch.complex128) + torch.diag(weight)
    rhs = (aty + 2 * mu1 * z + 2 * mu2 * cam**2 * u).reshape(n).to(torch.complex128)
    x_dense = torch.linalg.solve(system, rhs).reshape(1, size, size)
    # 64 CG iterations for 64 unknowns: converged, up to the float32 operator's rounding times
    # the condition number
    rtol = float(torch.linalg.cond(system)) * rounding_rtol(torch.complex64, fft_points=n, fft_passes=2, terms=coils)
    assert_close_in_norm(x_cg, x_dense, rtol)


@pytest.mark.parametrize("lesion_focus", [False, True])
def test_stages_pass_on_their_gram_one_application_per_cg_step(lesion_focus: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each stage's CG starts from ``A^H A X`` read off the previous stage's residual, so a forward
    applies ``A^H A`` once for the start and once per CG step; the result is the stage-by-stage
    solve that forms every start's residual afresh, to float32 rounding."""
    kspace, mask, sens, _ = _problem(batch=1, coils=4, size=24, seed=4)
    config = _config(lesion_focus=lesion_focus, num_stages=3, cg_iterations=3, lesion_module="residual",
                     lesion_term="target", cam_once=True) if lesion_focus else _config(lesion_focus=False, num_stages=3)
    torch.manual_seed(4)
    net = LFMRINet(config).eval()
    calls = []
    normal = SenseOperator.normal

    def counted(self: SenseOperator, image: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return normal(self, image)

    monkeypatch.setattr(SenseOperator, "normal", counted)
    with torch.no_grad():
        out = net(kspace, mask, sens).image
        assert len(calls) == 1 + 3 * 3
        # the same stages, each start's residual formed with A^H A
        monkeypatch.setattr("lfmri_core.models.unrolled.solve_data_consistency",
                            lambda *a, gram_x0=None, return_gram=False, **kw: (solve_data_consistency(*a, **kw), None))
        calls.clear()
        fresh = net(kspace, mask, sens).image
        assert len(calls) == 3 * 4
    rtol = 3 * (_network_rtol(net) + rounding_rtol(torch.complex64, fft_points=24, fft_passes=2, terms=4, steps=4))
    assert_close_in_norm(out, fresh, rtol)
    assert not torch.equal(out, kspace.new_zeros(out.shape))


def test_adam_steps_reduce_loss() -> None:
    torch.manual_seed(1)
    net = LFMRINet(_config(width=8, num_stages=2))
    kspace, mask, sens, image = _problem(batch=2, size=24, seed=2)
    optimiser = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(8):
        optimiser.zero_grad()
        loss = (net(kspace, mask, sens).image - image).abs().pow(2).mean()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.9 * losses[0], losses


def test_denoiser_is_scale_equivariant() -> None:
    torch.manual_seed(0)
    model = DenoiserCNN(width=8, depth=3)
    x = _complex((2, 16, 16), torch.Generator().manual_seed(0))
    assert_close_in_norm(model(1e-4 * x), 1e-4 * model(x), _network_rtol(model))


@pytest.mark.parametrize("lesion_focus", [True, False])
def test_unet_denoisers_reconstruct_odd_sizes_and_train(lesion_focus: bool) -> None:
    """With ``denoiser="unet"`` every D_w and G_u is a residual U-Net; sizes that are not a
    multiple of the U-Net's 2**(levels-1) still come back whole, and gradients reach every stage."""
    torch.manual_seed(0)
    net_c = build_classifier(SMALL_CLASSIFIER) if lesion_focus else None  # the CNN tests' Net_c, non-zero CAM
    net = LFMRINet(_config(lesion_focus=lesion_focus, denoiser="unet", width=4, levels=3), classifier=net_c)
    stages = list(net.denoisers) + (list(net.lesion_nets) if net.lesion_nets is not None else [])
    assert len(stages) == (4 if lesion_focus else 2) and all(isinstance(d, DenoiserUNet) for d in stages)
    assert all(d.unet.levels == 3 for d in stages)
    with torch.no_grad():
        assert net(*_problem(batch=1, size=30)[:3]).image.shape == (1, 30, 30)
    kspace, mask, sens, image = _problem()
    out = net(kspace, mask, sens)
    assert not lesion_focus or float(out.cam.detach().max()) > 0, "CAM is all zero; gradient test meaningless"
    (out.image - image).abs().mean().backward()
    for d in stages:
        grads = [p.grad for p in d.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads if g is not None)


@pytest.mark.parametrize(("dilated", "radius"), [(False, 5), (True, 16)])
def test_cnn_receptive_field(dilated: bool, radius: int) -> None:
    """The centre output pixel depends on exactly the pixels within ``radius`` (depth 5): 11 x 11
    plain, 33 x 33 dilated 1, 2, 4, 8, 1."""
    torch.manual_seed(0)
    model = DenoiserCNN(width=4, depth=5, dilated=dilated)
    x = _complex((1, 48, 48), torch.Generator().manual_seed(2)).requires_grad_()
    (model(x)[0, 24, 24] - x[0, 24, 24]).abs().backward()
    rows, cols = torch.nonzero(x.grad[0].abs() > 0, as_tuple=True)
    assert int((rows - 24).abs().max()) == radius and int((cols - 24).abs().max()) == radius


def test_unet_denoiser_is_residual_and_scale_equivariant() -> None:
    torch.manual_seed(0)
    model = DenoiserUNet(width=4, levels=2)
    x = _complex((2, 12, 10), torch.Generator().manual_seed(1))
    out = model(x)
    correction = model.unet.forward_complex(x)
    # (x + f) - x rounds twice, relative to |x| + |f|
    scale = float(torch.linalg.vector_norm(x) + torch.linalg.vector_norm(correction.detach()))
    assert_close_in_norm(out - x, correction, rounding_rtol(torch.float32), scale=scale)
    assert_close_in_norm(model(1e-4 * x), 1e-4 * out, _network_rtol(model))


def test_configs_written_before_the_denoiser_choice_load_as_cnn() -> None:
    import json

    old = json.loads(_config().to_json())
    del old["denoiser"], old["levels"]
    config = LFMRIConfig.from_json(json.dumps(old))
    assert config.denoiser == "cnn" and config == _config()
    unet = _config(denoiser="unet", levels=2)
    assert LFMRIConfig.from_json(unet.to_json()) == unet
    with pytest.raises(InputError, match="denoiser must be 'cnn', 'dilated-cnn' or 'unet'"):
        LFMRIConfig(denoiser="resnet")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="levels must be an integer >= 1"):
        LFMRIConfig(levels=0)


def test_config_json_round_trip_and_validation() -> None:
    config = _config(lesion_focus=False, classifier=ClassifierConfig(backbone="vgg-small", width=6))
    assert LFMRIConfig.from_json(config.to_json()) == config
    assert LFMRIConfig.from_json(LFMRIConfig().to_json()) == LFMRIConfig()
    with pytest.raises(InputError):
        LFMRIConfig.from_json("{}")
    with pytest.raises(InputError):
        LFMRIConfig.from_json(config.to_json().replace('"width": 8', '"wdith": 8'))
    with pytest.raises(InputError):
        LFMRIConfig(num_stages=0)
    with pytest.raises(InputError):
        LFMRIConfig(mu1_init=-1.0)


def test_bad_inputs_raise_input_error() -> None:
    net = LFMRINet(_config(lesion_focus=False))
    kspace, mask, sens, _ = _problem()
    with pytest.raises(InputError):
        net(kspace.abs(), mask, sens)  # real k-space
    with pytest.raises(InputError):
        net(kspace, mask, sens[:, :3])  # coil mismatch
    with pytest.raises(InputError):
        net(kspace[0], mask, sens[0])  # no batch axis
    with pytest.raises(InputError):
        net(kspace, torch.ones(1, 31, dtype=torch.bool), sens)
    with pytest.raises(InputError):
        net(kspace, mask.float(), sens)


@pytest.mark.parametrize("shape", [(2, 32, 32), (1, 37, 21)])
def test_unet_shapes(shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    complex_net = UNet(2, 2, width=16, levels=3)
    x = _complex(shape, gen)
    assert complex_net.forward_complex(x).shape == shape
    magnitude_net = UNet(1, 1)
    assert magnitude_net(x.abs().unsqueeze(1)).shape == (shape[0], 1, *shape[1:])
    with pytest.raises(InputError):
        magnitude_net(x.abs())
