"""A researcher's own loss, optimizer, scheduler, fusion and dataset, added with yaml files in
their own config folder and a module of their own, train through `run.py` without any edit of
the project."""
import csv
import json
import textwrap

import pytest
import torch

from helpers import TINY, run_py
from fake_datasets import picture

pytestmark = pytest.mark.slow

USER_MODULE = '''
import json, os
import torch
from torch import nn
from iqa.data.metadata import records


class ScaledL1(nn.Module):
    """A loss of one's own: called as loss(pred, mos); logs its calls to prove it ran."""
    def __init__(self, scale, log):
        super().__init__()
        self.scale, self.log = scale, log

    def forward(self, pred, mos):
        with open(self.log, "a") as f:
            f.write(json.dumps([list(pred.shape), list(mos.shape)]) + "\\n")
        return self.scale * (pred - mos).abs().mean()


class MaxStage(nn.Module):
    """A fusion of one's own: the elementwise max of 1x1-projected stages on the last grid."""
    def __init__(self, channels):
        super().__init__()
        self.out_channels = channels[-1]
        self.projs = nn.ModuleList(nn.Conv2d(c, channels[-1], 1) for c in channels)

    def forward(self, feats):
        last = feats[-1]
        pooled = [p(nn.functional.adaptive_avg_pool2d(f, last.shape[-2:])) for p, f in zip(self.projs, feats)]
        return torch.stack(pooled).amax(0)


def read_scores(settings, official, column):
    """A dataset of one's own: a semicolon-separated score file."""
    rows = [line.split(";") for line in settings.path("metadata").read_text().splitlines()[1:]]
    header = settings.path("metadata").read_text().splitlines()[0].split(";")
    col = header.index(column)
    return records([r[0] for r in rows], [float(r[col]) for r in rows])
'''


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_own_parts_plug_in_by_yaml(tmp_path, cache_dir):
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "mymodule.py").write_text(USER_MODULE)
    calls = tmp_path / "loss_calls.jsonl"
    conf = tmp_path / "myconf"
    write(conf / "optim" / "rmsprop.yaml", "_target_: torch.optim.RMSprop\n_partial_: true\nlr: 1.0e-4\n")
    write(conf / "scheduler" / "halving.yaml",
          "_target_: torch.optim.lr_scheduler.ExponentialLR\n_partial_: true\ngamma: 0.5\n")
    write(conf / "loss" / "scaled.yaml", f"_target_: mymodule.ScaledL1\nscale: 2.0\nlog: {calls}\n")
    write(conf / "model" / "fusion" / "maxstage.yaml", "_target_: mymodule.MaxStage\n_partial_: true\n")
    images = tmp_path / "photos"
    rows = []
    for i in range(24):
        picture(images / f"p{i}.png", 48, 40, seed=i)
        rows.append(f"p{i}.png;{i % 7 + 0.5 * i}")
    (tmp_path / "scores.txt").write_text("file;quality\n" + "\n".join(rows) + "\n")
    write(conf / "data" / "mine.yaml", f"""\
        defaults:
          - /datasets@_here_
          - _self_
        name: mine
        sets:
          mine:
            _target_: mymodule.read_scores
            _partial_: true
            column: quality
            root: {tmp_path}
            metadata: scores.txt
            images: photos
        """)
    out = tmp_path / "run"
    run_py([*TINY, f"hydra.run.dir={out}", f"hydra.searchpath=[file://{conf}]", "optim=rmsprop",
            "scheduler=halving", "loss=scaled", "model/fusion=maxstage", "data=mine", "trainer.epochs=3",
            "loader.batch_size=4", "trainer.early_stopping=false", "trainer.keep_resume_state=true"],
           tmp_path, cache_dir, pythonpath=[tmp_path / "user"])
    history = list(csv.DictReader((out / "history.csv").open()))
    lrs = [(float(r["lr_backbone"]), float(r["lr_head"])) for r in history]
    assert lrs == [pytest.approx((1e-4 * 0.5 ** e, 1e-3 * 0.5 ** e)) for e in range(3)]
    log = (out / "run.log").read_text()
    assert "fusion MaxStage" in log and "of mine" in log
    batches = [json.loads(line) for line in calls.read_text().splitlines()]
    assert batches and all(b[0] == b[1] == [4] for b in batches)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3
    saved = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert "square_avg" in saved["optimizer"]["state"][0]  # RMSprop's own state, kept across epochs
