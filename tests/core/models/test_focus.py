"""The oracle lesion focus: box maps, the oracle network, and the relaxed denoiser term."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.io.annotations import LesionBox
from lfmri_core.models import (
    ClassifierConfig,
    LesionCorrection,
    LFMRIConfig,
    LFMRINet,
    build_classifier,
    load_weights,
    save_weights,
    solve_data_consistency,
)
from lfmri_core.models.focus import box_focus_map, box_focus_maps
from lfmri_core.physics import SenseOperator, center_crop

EPS32 = float(np.finfo(np.float32).eps)


def _box(row0: int, row1: int, col0: int, col1: int, slice_index: int = 0) -> LesionBox:
    return LesionBox(slice_index, "lesion", row0, row1, col0, col1)


# --- maps ---------------------------------------------------------------------------------------


def test_a_large_box_is_one_inside_and_zero_far_away() -> None:
    focus = box_focus_map([_box(20, 40, 10, 30)], (64, 48), sigma=2.0)
    assert focus.shape == (64, 48) and focus.dtype == torch.float32
    assert float(focus[26:34, 16:24].min()) == pytest.approx(1.0, abs=1e-6)  # beyond the kernel (3 sigma) inside
    assert float(focus[:10].max()) == 0.0 and float(focus[:, 40:].max()) == 0.0  # beyond the 3 sigma kernel
    assert 0.0 < float(focus[20, 20]) < 1.0  # the edge is soft
    assert float(focus.min()) >= 0.0 and float(focus.max()) == pytest.approx(1.0, abs=1e-6)


def test_small_boxes_still_peak_at_one_and_several_boxes_take_the_maximum() -> None:
    small = box_focus_map([_box(10, 12, 10, 12)], (32, 32), sigma=3.0)
    assert float(small.max()) == pytest.approx(1.0, abs=1e-6)
    two = box_focus_map([_box(10, 12, 10, 12), _box(20, 30, 20, 30)], (32, 32), sigma=3.0)
    other = box_focus_map([_box(20, 30, 20, 30)], (32, 32), sigma=3.0)
    torch.testing.assert_close(two, torch.maximum(small, other))


def test_sigma_zero_is_the_box_indicator_placed_in_the_recon_crop() -> None:
    # boxes refer to the centred recon crop: rows (12 - 8) // 2 = 2, cols (10 - 6) // 2 = 2 in
    box = _box(1, 3, 2, 5)
    focus = box_focus_map([box], (12, 10), (8, 6), sigma=0)
    expected = torch.zeros(12, 10)
    expected[2 + 1 : 2 + 3, 2 + 2 : 2 + 5] = 1.0
    torch.testing.assert_close(focus, expected)
    torch.testing.assert_close(center_crop(focus, (8, 6)), torch.from_numpy(box.to_mask((8, 6)).astype(np.float32)))


def test_no_boxes_or_empty_boxes_give_zeros_and_stacks_keep_the_order() -> None:
    assert float(box_focus_map([], (16, 16)).abs().max()) == 0.0
    assert float(box_focus_map([_box(4, 4, 2, 9)], (16, 16)).abs().max()) == 0.0
    stack = box_focus_maps([[], [_box(4, 8, 4, 8)]], (16, 16))
    assert stack.shape == (2, 16, 16) and float(stack[0].max()) == 0.0 and float(stack[1].max()) > 0.99
    assert box_focus_maps([], (16, 16)).shape == (0, 16, 16)


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError, match="lies outside the 8 x 8 recon frame"):
        box_focus_map([_box(4, 12, 0, 2)], (16, 16), (8, 8))
    with pytest.raises(InputError, match="recon size 20 x 8 does not fit the 16 x 16 image"):
        box_focus_map([], (16, 16), (20, 8))
    with pytest.raises(InputError, match="focus sigma must be a finite number >= 0"):
        box_focus_map([], (16, 16), sigma=-1.0)


# --- the oracle network -------------------------------------------------------------------------------


def _problem(batch: int = 2, coils: int = 3, size: int = 24, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    maps = torch.complex(torch.randn(batch, coils, size, size, generator=gen), torch.randn(batch, coils, size, size, generator=gen))
    maps = maps / maps.abs().pow(2).sum(1, keepdim=True).sqrt()
    mask = torch.rand(1, size, generator=gen) < 0.4
    mask[:, size // 2 - 3 : size // 2 + 3] = True
    image = torch.complex(torch.randn(batch, size, size, generator=gen), torch.randn(batch, size, size, generator=gen))
    kspace = SenseOperator(maps, mask)(image)
    return kspace, mask, maps


def _oracle(relax: bool = False, seed: int = 0) -> LFMRINet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LFMRINet(LFMRIConfig(num_stages=2, width=4, depth=2, cg_iterations=2, focus="oracle", relax_denoiser=relax))


def test_oracle_network_has_no_classifier_and_needs_a_focus_map() -> None:
    net = _oracle()
    assert net.classifier is None and net.lesion_nets is not None and not net.config.uses_classifier
    kspace, mask, maps = _problem()
    with pytest.raises(InputError, match="needs the lesion boxes' focus map"):
        net(kspace, mask, maps)
    with pytest.raises(InputError, match="focus map of shape \\(2, 8, 8\\) does not fit"):
        net(kspace, mask, maps, focus=torch.zeros(2, 8, 8))
    with pytest.raises(InputError, match="must be a real floating tensor"):
        net(kspace, mask, maps, focus=torch.zeros(2, 24, 24, dtype=torch.complex64))
    with pytest.raises(InputError, match="its focus is the oracle box map"):
        LFMRINet(LFMRIConfig(focus="oracle"), classifier=build_classifier(LFMRIConfig().classifier))
    cam_net = LFMRINet(LFMRIConfig(num_stages=1, width=4, depth=2))
    with pytest.raises(InputError, match="only taken by an oracle-focus"):
        cam_net(kspace, mask, maps, focus=torch.zeros(2, 24, 24))
    with pytest.raises(InputError, match="need lesion_focus on"):
        LFMRIConfig(lesion_focus=False, focus="oracle")
    with pytest.raises(InputError, match="focus must be 'cam' or 'oracle'"):
        LFMRIConfig(focus="boxes")  # type: ignore[arg-type]


def test_a_zero_focus_map_leaves_only_the_denoiser_and_the_data() -> None:
    """With c = 0 the lesion term vanishes: the oracle network computes exactly what the no-focus
    network with the same denoisers and mu1 computes."""
    net = _oracle()
    plain = LFMRINet(LFMRIConfig(num_stages=2, width=4, depth=2, cg_iterations=2, lesion_focus=False))
    plain.denoisers.load_state_dict(net.denoisers.state_dict())
    plain.raw_mu1.data.copy_(net.raw_mu1.data)
    kspace, mask, maps = _problem()
    with torch.no_grad():
        ours = net(kspace, mask, maps, focus=torch.zeros(2, 24, 24)).image
        theirs = plain(kspace, mask, maps).image
    scale = float(theirs.abs().max())
    torch.testing.assert_close(ours, theirs, rtol=0, atol=100 * EPS32 * scale)
    with torch.no_grad():
        focused = net(kspace, mask, maps, focus=torch.ones(2, 24, 24)).image
    assert float((focused - theirs).abs().max()) > 1e-3 * scale


def test_oracle_gradients_reach_every_stage_and_the_weights_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net = _oracle(relax=True)
    kspace, mask, maps = _problem()
    focus = torch.zeros(2, 24, 24)
    focus[:, 6:14, 8:16] = 1.0
    net(kspace, mask, maps, focus=focus).image.abs().sum().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and float(parameter.grad.abs().sum()) > 0, name
    path = save_weights(tmp_path / "oracle.safetensors", net)
    loaded = load_weights(path)
    assert isinstance(loaded, LFMRINet) and loaded.config == net.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(kspace, mask, maps, focus=focus).image, net.eval()(kspace, mask, maps, focus=focus).image)


def test_configs_written_before_the_focus_options_load_with_the_cam_focus() -> None:
    stored = json.loads(LFMRIConfig(num_stages=2).to_json())
    del stored["focus"], stored["relax_denoiser"]
    config = LFMRIConfig.from_json(json.dumps(stored))
    assert config.focus == "cam" and not config.relax_denoiser and config.uses_classifier


# --- the relaxed denoiser term ------------------------------------------------------------------------


@pytest.mark.parametrize("relax", [False, True])
def test_data_consistency_solves_its_normal_equations(relax: bool) -> None:
    """``(A^H A + 2 mu1 W + 2 mu2 c^2) X = A^H Y + 2 mu1 W Z + 2 mu2 c^2 U`` with ``W = 1 - c``
    (relaxed) or 1; enough CG steps solve it to float32 precision."""
    kspace, mask, maps = _problem(batch=1)
    op = SenseOperator(maps, mask)
    gen = torch.Generator().manual_seed(5)
    shape = (1, 24, 24)
    z = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
    u = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
    cam = torch.rand(shape, generator=gen)
    cam[0, :4] = 1.0  # where c = 1 the relaxed denoiser term is gone: the lesion term keeps it definite
    mu1, mu2 = torch.tensor(0.3), torch.tensor(0.7)
    adjoint = op.adjoint(kspace)
    x = solve_data_consistency(op, adjoint, torch.zeros_like(z), z, mu1, lesion_target=u, cam=cam, mu2=mu2,
                               iterations=200, relax_denoiser=relax)
    w = 1 - cam if relax else torch.ones_like(cam)
    lhs = op.gram(x) + 2 * mu1 * w * x + 2 * mu2 * cam**2 * x
    rhs = adjoint + 2 * mu1 * w * z + 2 * mu2 * cam**2 * u
    residual = float(torch.linalg.vector_norm(lhs - rhs) / torch.linalg.vector_norm(rhs))
    assert residual < 1e3 * EPS32  # conditioning ~ (1 + 2 (mu1 + mu2)) / (2 min(mu1 (1 - c) + mu2 c^2)) stays small
    if relax:
        plain = solve_data_consistency(op, adjoint, torch.zeros_like(z), z, mu1, lesion_target=u, cam=cam, mu2=mu2,
                                       iterations=200)
        assert float((plain - x).abs().max()) > 1e-2 * float(x.abs().max())


def test_relaxing_needs_the_lesion_term() -> None:
    kspace, mask, maps = _problem(batch=1)
    op = SenseOperator(maps, mask)
    x = op.adjoint(kspace)
    with pytest.raises(InputError, match="relax_denoiser needs the lesion term"):
        solve_data_consistency(op, x, x, x, torch.tensor(0.5), relax_denoiser=True)
    with pytest.raises(InputError, match="need lesion_focus on"):
        LFMRIConfig(lesion_focus=False, relax_denoiser=True)


# --- the residual lesion module ---------------------------------------------------------------------


def _residual(seed: int = 0, focus: str = "oracle") -> LFMRINet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LFMRINet(LFMRIConfig(num_stages=2, width=4, depth=3, cg_iterations=2, focus=focus,  # type: ignore[arg-type]
                                    lesion_module="residual", mu2_init=0.2))


def test_a_new_residual_lesion_module_returns_the_denoised_image_and_learns_from_the_focus() -> None:
    gen = torch.Generator().manual_seed(3)
    shape = (2, 12, 12)
    x = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
    z = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
    focus = torch.zeros(shape)
    focus[:, 3:6, 4:8] = 1.0
    module = LesionCorrection(width=4, depth=3)
    assert torch.equal(module(x, z, focus), z)  # zero last layer: U = Z exactly
    module(x, z, focus).abs().sum().backward()
    last = module.net[-1]
    assert last.weight.grad is not None and float(last.weight.grad.abs().sum()) > 0
    # the focus map is an input: a trained module answers to where the lesion is
    with torch.no_grad():
        last.weight.normal_(generator=gen)
    assert not torch.equal(module(x, z, focus), module(x, z, torch.zeros(shape)))
    with pytest.raises(InputError, match="one shape"):
        module(x, z, focus[:, :4])


def test_a_trained_residual_module_runs_on_the_map_support_only_with_the_full_image_result_there() -> None:
    """The module runs on the rectangle around the map's support (plus its receptive radius):
    where ``c > 0`` its ``U`` is the full-image network's up to float32 rounding, outside the
    rectangle ``U = Z``, and an all-zero map runs the whole image."""
    from lfmri_core.models.scaling import robust_scale
    from lfmri_core.models.unrolled import support_window
    from tests.tolerances import assert_close_in_norm, rounding_rtol

    gen = torch.Generator().manual_seed(5)
    shape = (2, 40, 36)
    x = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
    z = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
    module = LesionCorrection(width=6, depth=4)
    with torch.no_grad():
        for conv in module.net[::2]:
            conv.weight.normal_(generator=gen).mul_(0.3)
            conv.bias.normal_(generator=gen)

    def full_image(focus: torch.Tensor) -> torch.Tensor:
        scale = robust_scale(x.abs())[:, None, None]
        channels = torch.cat([torch.view_as_real(x / scale), torch.view_as_real(z / scale), focus[..., None]],
                             dim=-1).permute(0, 3, 1, 2)
        return z + torch.view_as_complex(module.net(channels).permute(0, 2, 3, 1).contiguous()) * scale

    focus = torch.zeros(shape)
    focus[0, 10:14, 20:23] = torch.rand((4, 3), generator=gen) + 0.1  # one blob per image, apart
    focus[1, 25:27, 5:9] = 0.5
    rows, cols = support_window(focus, margin=4)
    assert (rows, cols) == (slice(6, 31), slice(1, 27))
    with torch.no_grad():
        u, reference = module(x, z, focus), full_image(focus)
    inside = focus > 0
    rtol = rounding_rtol(torch.float32, terms=9 * 6, steps=4)
    assert_close_in_norm(u[inside], reference[inside], rtol, what="U inside the map")
    outside = torch.ones(shape, dtype=torch.bool)
    outside[:, rows, cols] = False
    assert torch.equal(u[outside], z[outside])
    assert not torch.allclose(u[inside], z[inside])  # the module did act in the map
    # gradients of the lesion term (weighted by c) are the full image's too
    weights = [conv.weight for conv in module.net[::2]]
    grads = torch.autograd.grad((focus * (module(x, z, focus) - z).abs() ** 2).sum(), weights)
    expected = torch.autograd.grad((focus * (full_image(focus) - z).abs() ** 2).sum(), weights)
    for g, e in zip(grads, expected):
        assert_close_in_norm(g, e, 10 * rtol, what="gradient")
    # no support: the whole image, every parameter in use
    assert support_window(torch.zeros(shape), margin=4) == (slice(0, 40), slice(0, 36))
    with torch.no_grad():
        assert_close_in_norm(module(x, z, torch.zeros(shape)), full_image(torch.zeros(shape)), rtol)


def test_a_new_residual_network_solves_the_ablation_stage_with_extra_weight_on_the_denoiser_in_the_map() -> None:
    """With ``U = Z`` each stage's data consistency is the ablation's with ``2 mu1 + 2 mu2 c^2`` on ``Z``."""
    net = _residual()
    ablation = LFMRINet(LFMRIConfig(num_stages=2, width=4, depth=3, cg_iterations=2, lesion_focus=False))
    missing, unexpected = net.load_state_dict(ablation.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("lesion_nets.", "raw_mu2")) for k in missing)
    kspace, mask, maps = _problem()
    focus = torch.zeros(2, 24, 24)
    with torch.no_grad():
        # an all-zero focus map: exactly the ablation
        torch.testing.assert_close(net(kspace, mask, maps, focus=focus).image, ablation(kspace, mask, maps).image,
                                   rtol=0, atol=0)
        focus[:, 8:14, 6:12] = 1.0
        out = net(kspace, mask, maps, focus=focus).image
        # by hand: the ablation's stages with the denoiser weighted 2 mu1 + 2 mu2 c^2
        op = SenseOperator(maps, mask)
        adjoint = op.adjoint(kspace)
        x, gram = adjoint, None
        for t in range(2):
            z = ablation.denoisers[t](x)
            x, gram = solve_data_consistency(op, adjoint, x, z, net.mu1[t], lesion_target=z, cam=focus, mu2=net.mu2[t],
                                             iterations=2, gram_x0=gram, return_gram=True)
        torch.testing.assert_close(out, x, rtol=0, atol=0)
        assert not torch.equal(out, ablation(kspace, mask, maps).image)


def test_residual_lesion_module_config_round_trips_and_old_configs_keep_the_separate_module(tmp_path: Path) -> None:
    net = _residual()
    path = tmp_path / "residual.safetensors"
    save_weights(path, net)
    loaded = load_weights(path)
    assert isinstance(loaded, LFMRINet) and loaded.config.lesion_module == "residual"
    assert isinstance(loaded.lesion_nets[0], LesionCorrection)  # type: ignore[index]
    stored = json.loads(LFMRIConfig(num_stages=2).to_json())
    del stored["lesion_module"]
    assert LFMRIConfig.from_json(json.dumps(stored)).lesion_module == "separate"
    with pytest.raises(InputError, match="lesion_module must be 'separate' or 'residual'"):
        LFMRIConfig(lesion_module="both")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="lesion_module 'residual' need lesion_focus on"):
        LFMRIConfig(lesion_focus=False, lesion_module="residual")


# --- the residual module moving the denoiser's target -------------------------------------------------


def test_a_new_target_lesion_term_network_is_exactly_the_ablation_whatever_the_focus() -> None:
    """``lesion_term="target"`` adds no weight: with ``U = Z`` every stage is the ablation's."""
    config = LFMRIConfig(num_stages=2, width=4, depth=3, cg_iterations=2, focus="oracle", lesion_module="residual",
                         lesion_term="target", mu2_init=1.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = LFMRINet(config)
    ablation = LFMRINet(LFMRIConfig(num_stages=2, width=4, depth=3, cg_iterations=2, lesion_focus=False))
    missing, unexpected = net.load_state_dict(ablation.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("lesion_nets.", "raw_mu2")) for k in missing)
    kspace, mask, maps = _problem()
    focus = torch.zeros(2, 24, 24)
    focus[:, 8:14, 6:12] = 1.0
    with torch.no_grad():
        torch.testing.assert_close(net(kspace, mask, maps, focus=focus).image, ablation(kspace, mask, maps).image,
                                   rtol=0, atol=0)
    # a trained module moves the target inside the map only: by hand, Z + mu2 c (U - Z)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for module in net.lesion_nets:  # type: ignore[union-attr]
            module.net[-1].weight.normal_(std=0.1, generator=gen)
        out = net(kspace, mask, maps, focus=focus).image
        op = SenseOperator(maps, mask)
        adjoint = op.adjoint(kspace)
        x, gram = adjoint, None
        for t in range(2):
            z = net.denoisers[t](x)
            u = net.lesion_nets[t](x, z, focus)  # type: ignore[index]
            assert not torch.equal(u, z)
            x, gram = solve_data_consistency(op, adjoint, x, z + net.mu2[t] * focus * (u - z), net.mu1[t], iterations=2,
                                             gram_x0=gram, return_gram=True)
        torch.testing.assert_close(out, x, rtol=0, atol=0)
        assert not torch.equal(out, ablation(kspace, mask, maps).image)


def test_the_target_lesion_term_needs_the_residual_module_and_round_trips(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="lesion_term 'target' needs lesion_module 'residual'"):
        LFMRIConfig(lesion_term="target")
    with pytest.raises(InputError, match="lesion_term 'target' needs lesion_module 'residual' and relax_denoiser off"):
        LFMRIConfig(lesion_module="residual", lesion_term="target", relax_denoiser=True)
    with pytest.raises(InputError, match="lesion_term must be 'weight' or 'target'"):
        LFMRIConfig(lesion_term="both")  # type: ignore[arg-type]
    net = LFMRINet(LFMRIConfig(num_stages=1, width=4, depth=3, focus="oracle", lesion_module="residual",
                               lesion_term="target"))
    save_weights(tmp_path / "t.safetensors", net)
    loaded = load_weights(tmp_path / "t.safetensors")
    assert isinstance(loaded, LFMRINet) and loaded.config.lesion_term == "target"
    stored = json.loads(LFMRIConfig(num_stages=2).to_json())
    del stored["lesion_term"]
    assert LFMRIConfig.from_json(json.dumps(stored)).lesion_term == "weight"


def test_cam_once_runs_net_c_once_on_the_first_stage_output_and_starts_as_the_ablation() -> None:
    config = LFMRIConfig(num_stages=3, width=4, depth=3, cg_iterations=2, lesion_module="residual",
                         lesion_term="target", lesion_width=3, cam_once=True, mu2_init=1.0,
                         classifier=ClassifierConfig(width=4))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = LFMRINet(config)
    assert len(net.lesion_nets) == 2  # type: ignore[arg-type]  # stage 1 has no lesion term
    assert net.lesion_nets[0].net[0].out_channels == 3  # type: ignore[index]
    ablation = LFMRINet(LFMRIConfig(num_stages=3, width=4, depth=3, cg_iterations=2, lesion_focus=False))
    missing, unexpected = net.load_state_dict(ablation.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("lesion_nets.", "raw_mu2", "classifier.")) for k in missing)
    seen: list[torch.Tensor] = []
    assert net.classifier is not None
    net.classifier.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach().clone()))
    kspace, mask, maps = _problem()
    with torch.no_grad():
        out = net(kspace, mask, maps)
        torch.testing.assert_close(out.image, ablation(kspace, mask, maps).image, rtol=0, atol=0)
        assert len(seen) == 1
        first = ablation(kspace, mask, maps, stages=1).image
        torch.testing.assert_close(seen[0], first.abs().unsqueeze(1), rtol=0, atol=0)
    with pytest.raises(InputError, match="cam_once needs lesion_focus on and at least 2 stages"):
        LFMRIConfig(num_stages=1, lesion_module="residual", cam_once=True)
    with pytest.raises(InputError, match="lesion_width applies to lesion_module 'residual' only"):
        LFMRIConfig(lesion_width=4)


@pytest.mark.parametrize("module, term", [("residual", "target"), ("residual", "weight"), ("separate", "weight")])
def test_outside_training_a_map_that_is_zero_everywhere_skips_the_lesion_module_with_the_same_result(
        module: str, term: str) -> None:
    """A zero map multiplies ``U`` by zero in either lesion term, so the evaluation-mode network
    does not run the module (a slice where Net_c sees nothing costs the ablation plus Net_c) and
    gives the training-mode result, which runs it; a map with support runs it again."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        net = LFMRINet(LFMRIConfig(num_stages=3, width=4, depth=3, cg_iterations=2, focus="oracle",
                                   lesion_module=module, lesion_term=term, mu2_init=0.4))  # type: ignore[arg-type]
        with torch.no_grad():
            for parameter in net.lesion_nets.parameters():  # type: ignore[union-attr]
                parameter.normal_().mul_(0.3)  # a module that changes U (a new one returns Z)
    calls = []
    for lesion_net in net.lesion_nets:  # type: ignore[union-attr]
        lesion_net.register_forward_hook(lambda *_: calls.append(1))
    kspace, mask, maps = _problem()
    focus = torch.zeros(2, 24, 24)
    with torch.no_grad():
        trained = net.train()(kspace, mask, maps, focus=focus).image
        assert len(calls) == 3
        calls.clear()
        evaluated = net.eval()(kspace, mask, maps, focus=focus).image
        assert not calls
        assert torch.equal(evaluated, trained)
        focus[1, 8:14, 6:12] = 1.0
        mapped = net(kspace, mask, maps, focus=focus).image
    assert len(calls) == 3
    assert not torch.equal(mapped, evaluated)
