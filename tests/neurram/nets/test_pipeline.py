import json

import pytest

from neurram.nets.cli import main
from neurram.nets.pipeline import Experiment

REPORT_KEYS = ("acc.float", "acc.sw_4bit", "acc.sw_noise10", "acc.chip.n0", "acc.chip.best",
               "acc.chip.best_cal", "acc.chip.best_cal_ft", "acc.chip.only_relax_adc",
               "acc.chip.cal_random_inputs", "nrt.best_train_noise", "nrt.curve", "finetune.curve",
               "energy.per_image_nJ", "latency.per_image_us", "chip.cores_used")


def test_cli_rejects_empty_seed_lists(capsys):
    assert main(["eval", "--seeds", ",", "--quiet"]) == 2
    assert "must not be empty" in capsys.readouterr().err


@pytest.mark.slow
def test_the_whole_experiment_on_digits(tmp_path):
    e = Experiment(data="digits", out=str(tmp_path / "out"), noises=(0.0, 0.1), epochs=3, seeds=(0, 1),
                   ablation_seeds=(0,), test_images=12, calib_images=8, calib_vectors=64,
                   ft_images=24, ft_epochs=1, sw_draws=2, progress=False)
    rep = e.report()
    for k in REPORT_KEYS:
        assert k in rep, k
    for k in ("n0", "best", "best_cal", "best_cal_ft"):
        assert len(rep[f"acc.chip.{k}.seeds"]) == 2 and f"acc.chip.{k}.std" in rep
    assert list(rep["finetune.curve"]) == ["software", "conv1", "conv2", "conv3", "conv4", "conv5",
                                           "conv6", "dense7"]
    assert rep["energy.per_image_nJ"] > 0 and rep["latency.per_image_us"] > 0
    out = tmp_path / "out"
    assert json.loads((out / "report.json").read_text())["chip.cores_used"] == 48
    for png in ("accuracy_vs_training_noise", "finetune_curve", "layer_scatter", "confusion_matrix"):
        assert (out / f"{png}.png").stat().st_size > 1000
    # a second run is served from the caches
    again = Experiment(data="digits", out=str(out), noises=(0.0, 0.1), epochs=3, seeds=(0, 1),
                       ablation_seeds=(0,), test_images=12, calib_images=8, calib_vectors=64,
                       ft_images=24, ft_epochs=1, sw_draws=2, progress=False).report()
    assert again["acc.chip.best_cal_ft.seeds"] == rep["acc.chip.best_cal_ft.seeds"]
