"""torchrun with two CPU processes (gloo) equals one process with the whole batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lfmri_core.cli import main
from lfmri_core.training import DistributedContext, TrainingConfig, environment_context
from tests.core.training.conftest import SIZE
from tests.tolerances import rounding_rtol

ROOT = Path(__file__).resolve().parents[3]


def test_context_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert environment_context() == DistributedContext()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    context = environment_context()
    assert (context.rank, context.world_size, context.local_rank, context.is_main) == (3, 4, 1, False)
    assert context.shard(8) == slice(6, 8)


def test_two_processes_equal_one_with_the_doubled_batch(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "unrolled-no-focus", "--data", str(tiny_data), "--val-volumes", "0", "--steps", "2",
            "--batch-size", "2", "--crop-rows", "32", "--width", "4", "--num-stages", "1", "--device", "cpu", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "lfmri_core.cli", *args, "--out", str(tmp_path / "ddp")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    # torchrun ends with its own summary; the worker's reason for failing comes before it.
    assert done.returncode == 0, done.stderr[:3000] + "\n...\n" + done.stderr[-1500:]
    assert "2 processes" in done.stdout
    log = [json.loads(line) for line in (tmp_path / "ddp" / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["world_size"] == 2 and log[-1]["step"] == 2

    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    capsys.readouterr()
    distributed = load_file(str(tmp_path / "ddp" / "unrolled-no-focus.safetensors"))
    single = load_file(str(tmp_path / "single" / "unrolled-no-focus.safetensors"))
    assert distributed.keys() == single.keys()
    # Two processes sum the gradients in another order: the weights differ by rounding only,
    # of the stored weights (eps |w| per step) and of the gradients' sums over the batch's
    # pixels (relative, carried into Adam's steps of at most lr per weight), in norm.
    steps, lr, pixels = 2, TrainingConfig(task="unrolled-no-focus").lr, 2 * 32 * SIZE  # batch x crop rows x width
    two, one = (torch.cat([weights[name].flatten() for name in sorted(single)]) for weights in (distributed, single))
    bound = steps * (lr * rounding_rtol(torch.float32, terms=pixels) * one.numel() ** 0.5
                     + rounding_rtol(torch.float32) * float(one.norm()))
    assert float((two - one).norm()) <= bound
