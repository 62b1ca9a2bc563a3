"""Weights files: exact round trips for every model kind, and every kind of bad file refused
with one line, without executing anything from it."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from lfmri_core.errors import InputError
from lfmri_core.models import (
    ClassifierConfig,
    LesionClassifier,
    LFMRIConfig,
    LFMRINet,
    UNetConfig,
    UNetRecon,
    load_weights,
    read_weights_metadata,
    save_weights,
)
from lfmri_core.models.weights import CONFIG_KEY, KIND_KEY

TINY_CLASSIFIER = ClassifierConfig(width=4)
TINY_LFMRI = LFMRIConfig(num_stages=1, width=4, depth=2, cg_iterations=1, classifier=TINY_CLASSIFIER)
TINY_NO_FOCUS = LFMRIConfig(num_stages=1, width=4, depth=2, cg_iterations=1, lesion_focus=False, classifier=TINY_CLASSIFIER)
TINY_UNET = UNetConfig(width=4, levels=2)


def seeded(build: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    """``build()`` with torch's initialisation seeded, the global generator left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().eval()


MODELS: dict[str, Callable[[], nn.Module]] = {
    "classifier": lambda: LesionClassifier(TINY_CLASSIFIER),
    "lfmri": lambda: LFMRINet(TINY_LFMRI),
    "lfmri-no-focus": lambda: LFMRINet(TINY_NO_FOCUS),
    "unet": lambda: UNetRecon(TINY_UNET),
}
KINDS = {"classifier": "classifier", "lfmri": "lfmri", "lfmri-no-focus": "lfmri", "unet": "unet"}


def _problem(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masked k-space (2, 3, 16, 16), a (1, 16) line mask and unit-RSS maps."""
    gen = torch.Generator().manual_seed(seed)
    shape = (2, 3, 16, 16)
    maps = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen))
    maps = maps / maps.abs().pow(2).sum(1, keepdim=True).sqrt()
    mask = torch.rand(1, 16, generator=gen) < 0.5
    mask[:, 6:10] = True
    kspace = torch.complex(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)) * mask
    return kspace, mask, maps


def _outputs(model: nn.Module) -> list[torch.Tensor]:
    with torch.no_grad():
        if isinstance(model, LesionClassifier):
            out = model(torch.rand(2, 1, 24, 40, generator=torch.Generator().manual_seed(1)))
            return [out.logits, out.cam]
        result = model(*_problem())
        return [result.image] + ([] if result.cam is None else [result.cam])


def _forge(path: Path, tensors: dict[str, torch.Tensor], kind: str, config_json: str) -> Path:
    """A safetensors file written directly, with our metadata but tensors of our choosing."""
    save_file(tensors, str(path), metadata={KIND_KEY: kind, CONFIG_KEY: config_json})
    return path


def _one_line(err: pytest.ExceptionInfo[InputError]) -> str:
    message = str(err.value)
    assert "\n" not in message and message
    return message


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip_gives_identical_outputs(name: str, tmp_path: Path) -> None:
    model = seeded(MODELS[name], seed=3)
    path = save_weights(tmp_path / f"{name}.safetensors", model)
    loaded = load_weights(path, kind=KINDS[name], config=model.config)
    assert type(loaded) is type(model) and loaded.config == model.config and not loaded.training
    for before, after in zip(_outputs(model), _outputs(loaded), strict=True):
        assert torch.equal(before, after)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    assert read_weights_metadata(path)[KIND_KEY] == KINDS[name]


def test_lfmri_file_holds_its_classifier_and_no_focus_file_none(tmp_path: Path) -> None:
    from safetensors import safe_open

    net = seeded(MODELS["lfmri"], seed=4)
    path = save_weights(tmp_path / "lfmri.safetensors", net)
    with safe_open(str(path), framework="pt") as handle:
        classifier_keys = {k for k in handle.keys() if k.startswith("classifier.")}
    assert classifier_keys == {f"classifier.{k}" for k in net.classifier.state_dict()}  # type: ignore[union-attr]
    loaded = load_weights(path, kind="lfmri")
    assert isinstance(loaded, LFMRINet) and loaded.classifier is not None
    for key, value in net.classifier.state_dict().items():  # type: ignore[union-attr]
        assert torch.equal(value, loaded.classifier.state_dict()[key])
    assert not any(p.requires_grad for p in loaded.classifier.parameters())

    no_focus = save_weights(tmp_path / "plain.safetensors", seeded(MODELS["lfmri-no-focus"]))
    with safe_open(str(no_focus), framework="pt") as handle:
        assert not any(k.startswith(("classifier.", "lesion_nets.", "raw_mu2")) for k in handle.keys())
    assert load_weights(no_focus, kind="lfmri").config.lesion_focus is False


def test_extra_metadata_round_trips(tmp_path: Path) -> None:
    extra = {"command": "lfmri train unet --steps 10", "data": "synthetic train split", "steps": "10"}
    path = save_weights(tmp_path / "u.safetensors", seeded(MODELS["unet"]), metadata=extra)
    metadata = read_weights_metadata(path)
    assert {k: metadata[k] for k in extra} == extra
    assert UNetConfig.from_json(metadata[CONFIG_KEY]) == TINY_UNET
    with pytest.raises(InputError, match="reserved"):
        save_weights(tmp_path / "x.safetensors", seeded(MODELS["unet"]), metadata={KIND_KEY: "unet"})
    with pytest.raises(InputError, match="strings to strings"):
        save_weights(tmp_path / "x.safetensors", seeded(MODELS["unet"]), metadata={"steps": 10})  # type: ignore[dict-item]
    assert not (tmp_path / "x.safetensors").exists()


def test_saves_from_any_device_as_float32(tmp_path: Path) -> None:
    model = seeded(MODELS["unet"]).to(torch.float64)
    path = save_weights(tmp_path / "u.safetensors", model)
    loaded = load_weights(path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())


# --- refusals ------------------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates the folder ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_pickle_is_refused_and_never_executed(writer: str, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "weights.safetensors"
    payload = {"state_dict": {"x": torch.zeros(2)}, "trap": _Payload(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    # the trap is live: unpickling it elsewhere does create a marker
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(control)))
    assert control.is_dir()
    for read in (lambda: load_weights(path), lambda: load_weights(path, kind="lfmri"), lambda: read_weights_metadata(path)):
        with pytest.raises(InputError, match="not a readable safetensors file") as err:
            read()
        assert _one_line(err).startswith(str(path))
    assert not marker.exists()


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="weights file not found") as err:
        load_weights(tmp_path / "absent.safetensors")
    _one_line(err)
    with pytest.raises(InputError, match="is a folder"):
        load_weights(tmp_path)


@pytest.mark.parametrize("content", [b"", b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}", b"hello world, not weights"])
def test_garbage_is_refused(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "junk.safetensors"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a readable safetensors file") as err:
        load_weights(path)
    _one_line(err)


def test_safetensors_without_our_metadata(tmp_path: Path) -> None:
    path = tmp_path / "bare.safetensors"
    save_file(dict(seeded(MODELS["unet"]).state_dict()), str(path))
    with pytest.raises(InputError, match="no LF-MRI model config"):
        load_weights(path)
    _forge(path, {"x": torch.zeros(1)}, "transformer", "{}")
    with pytest.raises(InputError, match="unknown model kind 'transformer'"):
        load_weights(path)


def test_another_kind_than_asked(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "lfmri.safetensors", seeded(MODELS["lfmri"]))
    with pytest.raises(InputError, match="holds a model of kind 'lfmri', expected kind 'unet'") as err:
        load_weights(path, kind="unet")
    _one_line(err)
    with pytest.raises(InputError, match="unknown model kind 'gan'"):
        load_weights(path, kind="gan")


def test_another_architecture_than_config(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "lfmri.safetensors", seeded(MODELS["lfmri"]))
    with pytest.raises(InputError, match=r"another lfmri architecture: num_stages=1 \(expected 3\)") as err:
        load_weights(path, config=LFMRIConfig(num_stages=3, width=4, depth=2, cg_iterations=1, classifier=TINY_CLASSIFIER))
    _one_line(err)
    with pytest.raises(InputError, match="expected a UNetConfig"):
        load_weights(path, config=TINY_UNET)


def _state(name: str) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in seeded(MODELS[name]).state_dict().items()}


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("unet", lambda t: t.__setitem__("unet.head.weight", torch.zeros(2, 4, 3, 3)),
         r"tensor 'unet.head.weight' has shape \(2, 4, 3, 3\), the U-Net width 4, 2 levels expects \(2, 4, 1, 1\)"),
        ("lfmri", lambda t: t.pop("classifier.head.weight"), r"missing \['classifier.head.weight'\], unexpected none"),
        ("lfmri-no-focus", lambda t: t.__setitem__("raw_mu2", torch.ones(1)), r"missing none, unexpected \['raw_mu2'\]"),
        ("lfmri", lambda t: t.__setitem__("raw_mu1", torch.ones(1, dtype=torch.int64)),
         "tensor 'raw_mu1' has dtype torch.int64, expected floating point"),
        ("lfmri", lambda t: t["denoisers.0.net.0.bias"].__setitem__(0, float("nan")), "tensor 'denoisers.0.net.0.bias' contains NaN"),
        ("classifier", lambda t: t.__setitem__("head.bias", torch.full((1,), 1e300, dtype=torch.float64)),
         "tensor 'head.bias' contains NaN or Inf"),
    ],
    ids=["shape", "missing", "unexpected", "integer", "nan", "float64-overflow"],
)
def test_tensors_that_do_not_fit_are_refused(name: str, change: Callable[[dict[str, torch.Tensor]], object],
                                             message: str, tmp_path: Path) -> None:
    tensors = _state(name)
    change(tensors)
    model = seeded(MODELS[name])
    path = _forge(tmp_path / "forged.safetensors", tensors, KINDS[name], model.config.to_json())
    with pytest.raises(InputError, match=message) as err:
        load_weights(path)
    assert _one_line(err).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(width="4"), "bad lfmri config: LF-MRI width must be an integer"),
        (lambda c: c["classifier"].update(backbone=["resnet-small"]), "bad lfmri config: a field has the wrong JSON type"),
        (lambda c: c.update(colour="red"), "unknown LF-MRI config fields colour"),
        (lambda c: c.update(version=99), "unsupported LF-MRI config version 99"),
    ],
    ids=["value", "json-type", "unknown-field", "version"],
)
def test_bad_config_in_the_file_names_the_file(edit: Callable[[dict], object], message: str, tmp_path: Path) -> None:
    config = json.loads(TINY_LFMRI.to_json())
    edit(config)
    path = _forge(tmp_path / "bad.safetensors", _state("lfmri"), "lfmri", json.dumps(config))
    with pytest.raises(InputError, match=message) as err:
        load_weights(path)
    assert _one_line(err).startswith(f"{path}: ")


def test_config_claiming_a_huge_model_is_refused_before_building(tmp_path: Path) -> None:
    """A header that claims a million stages (or an enormous width) must not be built."""
    config = json.loads(TINY_LFMRI.to_json())
    config["num_stages"] = 1_000_000
    path = _forge(tmp_path / "stages.safetensors", _state("lfmri"), "lfmri", json.dumps(config))
    with pytest.raises(InputError, match="too few for the unrolled network with 1000000 stages"):
        load_weights(path)
    config = json.loads(TINY_LFMRI.to_json())
    config.update(denoiser="unet", levels=1_000_000)
    path = _forge(tmp_path / "levels.safetensors", _state("lfmri"), "lfmri", json.dumps(config))
    with pytest.raises(InputError, match="too few for the unrolled network with .* unet denoisers"):
        load_weights(path)
    config = json.loads(TINY_UNET.to_json())
    config["width"] = 1 << 20  # a real build would allocate terabytes
    path = _forge(tmp_path / "wide.safetensors", _state("unet"), "unet", json.dumps(config))
    with pytest.raises(InputError, match="has shape"):
        load_weights(path)


def test_a_failed_save_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    path = save_weights(tmp_path / "unet.safetensors", seeded(MODELS["unet"], seed=1))
    before = path.read_bytes()

    def crash(tensors: dict[str, torch.Tensor], filename: str, metadata: dict[str, str] | None = None) -> None:
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_weights(path, seeded(MODELS["unet"], seed=2))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unet.safetensors"]
    load_weights(path, kind="unet")


def test_weights_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    # safetensors writes a private (0o600) file; ours must be like any new file (0o666 less umask)
    umask = os.umask(0o022)
    os.umask(umask)
    path = save_weights(tmp_path / "unet.safetensors", UNetRecon(UNetConfig(width=2, levels=1)))
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
