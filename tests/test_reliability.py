"""Bad inputs, kills, full disks and shared machines: wrong results never pass silently, each
problem is one line, files are readable by colleagues, and a killed sweep finishes when resumed."""
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from helpers import ROOT, TINY, run_py, run_py_env
from fake_datasets import make_csv, write_csv
from iqa import predict
from iqa.runtime import gpu_slots
from iqa.train import checkpoint
from iqa import checkpoint_file
from iqa.atomic import write_json
from iqa.cli import user_error_line
from iqa.config import Config, validate
from iqa.config_keys import unknown_key
from iqa.data import cache
from iqa.data.decode import decode_image
from iqa.data.metadata import file_names
from iqa.errors import ConfigError, DataError
from helpers import compose
from helpers import fails_in_process, tiny_checkpoint


def _png16(path, pixels: np.ndarray) -> None:
    """A 16-bit PNG (grey for HxW, RGB for HxWx3), written by hand: PIL cannot write 16-bit RGB."""
    h, w = pixels.shape[:2]
    colour = 2 if pixels.ndim == 3 else 0
    raw = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def _ramp16(h=48, w=64, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, size=(h, w), dtype=np.uint16)


# -- silent wrong results -------------------------------------------------------------------------

def test_16_bit_pngs_keep_their_range_in_training_and_in_predict(tmp_path):
    grey = _ramp16()
    rgb = np.stack([grey, _ramp16(seed=1), _ramp16(seed=2)], axis=-1)
    _png16(tmp_path / "grey16.png", grey)
    _png16(tmp_path / "rgb16.png", rgb)
    Image.fromarray((grey >> 8).astype(np.uint8)).convert("RGB").save(tmp_path / "grey8.png")
    Image.fromarray((rgb >> 8).astype(np.uint8)).save(tmp_path / "rgb8.png")
    assert np.array_equal(decode_image(tmp_path / "grey16.png"), decode_image(tmp_path / "grey8.png"))
    assert np.array_equal(decode_image(tmp_path / "rgb16.png"), decode_image(tmp_path / "rgb8.png"))
    # Training reads through the image cache; predict decodes each file: both see the full range.
    names = ["grey16.png", "grey8.png"]
    cached = cache.cached_images("csv", tmp_path, names, None, str(tmp_path / "cache"), lambda it, **k: it)
    assert np.array_equal(cached.images["grey16.png"], cached.images["grey8.png"])
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    scores = {row["path"]: row["score"] for row in predict.run([f"checkpoint={ckpt}", f"inputs={tmp_path}"])}
    assert scores[str(tmp_path / "grey16.png")] == scores[str(tmp_path / "grey8.png")]


def _bmp(path, value: int) -> None:
    Image.fromarray(np.full((40, 40, 3), value, np.uint8)).save(path)  # BMP: the size depends on the shape only


def test_the_image_cache_never_serves_another_folders_or_an_older_files_pixels(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, value in ((a, 10), (b, 200)):
        folder.mkdir()
        _bmp(folder / "x.bmp", value)
        os.utime(folder / "x.bmp", ns=(1_600_000_000_000_000_000,) * 2)
    assert (a / "x.bmp").stat().st_size == (b / "x.bmp").stat().st_size
    load = lambda folder: cache.cached_images("csv", folder, ["x.bmp"], None, str(tmp_path / "cache"),  # noqa: E731
                                              lambda it, **k: it).images["x.bmp"]
    assert load(a).max() == 10 and load(b).max() == 200
    # Rewritten in place with its old size and modification time: new pixels all the same.
    time.sleep(0.05)
    _bmp(a / "x.bmp", 99)
    os.utime(a / "x.bmp", ns=(1_600_000_000_000_000_000,) * 2)
    assert load(a).max() == 99


def test_one_file_listed_under_two_spellings_is_refused(tmp_path):
    with pytest.raises(DataError) as err:
        file_names(["b.png", "a.png", "./a.png"], tmp_path / "labels.csv", "path")
    assert str(err.value) == (f"{tmp_path}/labels.csv row 4 column 'path': './a.png' is listed twice: "
                              f"row 3 names the same file (as 'a.png')")
    with pytest.raises(DataError, match="is listed twice"):
        file_names(["d/../a.png", "a.png"], tmp_path / "labels.csv", "path")


@pytest.mark.slow
def test_a_key_the_schema_does_not_know_stops_the_run_even_when_added_with_plus(tmp_path, cache_dir):
    proc = run_py([*TINY, f"hydra.run.dir={tmp_path}/run", "+trainer.epoch=3"], tmp_path, cache_dir, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: trainer.epoch is not a config key: did you mean trainer.epochs?"
    assert not (tmp_path / "run" / "metrics.json").exists()
    tree = lambda *o: OmegaConf.to_container(compose(*o))  # noqa: E731
    assert unknown_key(tree("+loader.batchsize=4"), Config) == \
        "loader.batchsize is not a config key: did you mean loader.batch_size?"
    assert unknown_key(tree("+extras.note=x"), Config).startswith("extras is not a config key")
    # free-form: timm's arguments, and `_target_` nodes (whose target rejects an unknown argument itself)
    assert unknown_key(tree("+model.backbone_args.depth=3", "+loss.foo=1"), Config) is None


# -- sharing -------------------------------------------------------------------------------------

def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_json(tmp_path / "metrics.json", {"a": 1})
        checkpoint.save(tmp_path / "last.pt", torch.nn.Linear(2, 1), None, None, 1, {}, {})
        _bmp(tmp_path / "x.bmp", 5)
        entry = cache.cached_images("csv", tmp_path, ["x.bmp"], None, str(tmp_path / "cache"), lambda it, **k: it)
    finally:
        os.umask(old)
    for path in (tmp_path / "metrics.json", tmp_path / "last.pt", entry.folder / "pixels.u8", entry.folder / "index.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path


def test_the_gpu_slot_folder_is_private_and_a_shared_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(gpu_slots.LOCK_DIR_ENV, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with gpu_slots.gpu_slot(["gpu-a"], 1) as gpu:
        assert gpu == 0
    folder = gpu_slots.default_lock_dir()
    assert folder.parent == tmp_path and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert folder.stat().st_uid == os.getuid()
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o1777)
    with pytest.raises(ConfigError, match=f"^GPU-slot lock folder {open_to_all} is writable by every user"):
        with gpu_slots.gpu_slot(["gpu-a"], 1, open_to_all):
            pass
    if os.getuid() == 0:  # a default folder another user made first
        os.chown(folder, 65534, 65534)
        with pytest.raises(ConfigError, match="belongs to another user"):
            with gpu_slots.gpu_slot(["gpu-a"], 1):
                pass


# -- one clean line ------------------------------------------------------------------------------

@pytest.mark.parametrize("override,message", [
    ("seed=99999999999999999999", "seed=99999999999999999999 is out of range: must be an integer in [0, 4294967295]"),
    ("data.split_seed=-1", "data.split_seed=-1 is out of range: must be an integer in [0, 4294967295]"),
])
def test_seeds_out_of_range(override, message):
    with pytest.raises(ConfigError) as err:
        validate(compose(*TINY, override))
    assert str(err.value) == message


def test_synthetic_images_smaller_than_a_patch_stop_before_anything_is_generated(tmp_path, cache_dir):
    line = fails_in_process(tmp_path, "data.image_size=0", f"data.cache_dir={tmp_path / 'cache'}")
    assert line == "loader.patch_size=32 is larger than the smallest image side (0) of synthetic: must be <= " \
                   "data.image_size=0"
    assert not (tmp_path / "cache").exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB file system (tmpfs, needs root), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow
def test_a_full_disk_is_one_line_for_the_run_folder_and_the_image_cache(tiny_disk, tmp_path, cache_dir):
    proc = run_py([*TINY, f"hydra.run.dir={tiny_disk}/run"], tmp_path, cache_dir, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: cannot write or read {tiny_disk}/run/")
    assert "No space left on device" in proc.stderr
    fd = os.open(tiny_disk / "filler", os.O_WRONLY | os.O_CREAT)  # a disk full before the run starts
    with pytest.raises(OSError):
        while True:
            os.write(fd, bytes(4096))
    os.close(fd)
    proc = run_py([*TINY, f"hydra.run.dir={tiny_disk}/full"], tmp_path, cache_dir, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: cannot write: No space left on device ("), proc.stderr
    (tiny_disk / "filler").unlink()
    make_csv(tmp_path / "csv", n=8, size=(160, 120))  # 8 x 56 KiB of pixels: more than the disk holds
    names = [f"{'a' if i % 2 else 'b'}/img{i}.{'png' if i % 3 else 'jpg'}" for i in range(8)]
    with pytest.raises(OSError) as err:
        cache.cached_images("csv", tmp_path / "csv", names, None, str(tiny_disk / "cache"), lambda it, **k: it)
    line = user_error_line(err.value)
    assert line.startswith(f"cannot write or read {tiny_disk}/cache/images/") and "No space left on device" in line
    assert [p for p in tiny_disk.rglob("*.tmp")] == []


def test_predict_help_and_an_unwritable_output(tmp_path, capsys):
    assert predict.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("Score image files with a trained checkpoint")
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    Image.fromarray(np.full((64, 64, 3), 80, np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "file").write_text("x")
    assert predict.main([f"checkpoint={ckpt}", f"inputs={tmp_path / 'a.png'}", f"output={tmp_path}/file/s.csv"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: output={tmp_path}/file/s.csv cannot be written: {tmp_path}/file is not a folder\n"


@pytest.mark.parametrize("content,kind", [
    (b"\x89PNG\r\n\x1a\n" + bytes(40), "a PNG image"),
    (b"seed: 42\nmodel: small\n", "a text file (it starts with 'seed: 42')"),
    (b"", "an empty file"),
])
def test_a_file_that_is_not_a_checkpoint_says_what_it_is(tmp_path, content, kind):
    path = tmp_path / "best.pt"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        checkpoint_file.load(path)
    assert str(err.value) == f"checkpoint {path} is not a checkpoint: it is {kind}"


def _csv_dataset(root, mos, split):
    make_csv(root, n=len(mos))
    names = [f"{'a' if i % 2 else 'b'}/img{i}.{'png' if i % 3 else 'jpg'}" for i in range(len(mos))]
    write_csv(root / "labels.csv", ["path", "mos", "split"], [[n, m, s] for n, m, s in zip(names, mos, split)])
    return ["data=csv", f"data.root={root}", "data.split=official", "data.cross=[]", f"data.cache_dir={root}/cache",
            "loader.batch_size=2"]


def test_a_constant_mos_or_a_one_image_test_split_stops_before_training(tmp_path, cache_dir):
    split = ["train"] * 6 + ["val", "val", "test", "test"]
    line = fails_in_process(tmp_path, *_csv_dataset(tmp_path / "flat", [3.0] * 10, split))
    assert line == "csv/train: all 6 images have the same score (3): there is nothing to rank (check the score column)"
    mos = [1.0, 2.0, 3.0, 4.0, 5.0, 1.5, 2.5, 3.5, 4.5, 2.0]
    line = fails_in_process(tmp_path, *_csv_dataset(tmp_path / "one", mos, split[:-1] + ["val"]))
    assert line.startswith("csv/test has 1 image: rank correlations need at least 2")


@pytest.mark.slow
def test_a_sweep_of_eval_jobs_gets_its_summary(tmp_path, cache_dir):
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    sweep = tmp_path / "sweep"
    run_py(["-m", *TINY, f"hydra.sweep.dir={sweep}", "mode=eval", f"checkpoint={ckpt}", "seed=1,2"], tmp_path,
           cache_dir)
    assert "2 runs: 2 done" in (sweep / "summary.md").read_text()
    (sweep / "summary.md").unlink()
    proc = subprocess.run([sys.executable, "-m", "iqa.aggregate", str(sweep)], cwd=ROOT, env=run_py_env(cache_dir),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (sweep / "summary.md").is_file()


# -- killed sweeps finish ------------------------------------------------------------------------

@pytest.mark.slow
def test_a_killed_sweep_resumed_finishes_every_job_and_writes_its_summary(tmp_path, cache_dir):
    sweep = tmp_path / "sweep"
    args = ["-m", *TINY, "trainer.epochs=3", "data.cross=[]", f"hydra.sweep.dir={sweep}", "seed=1,2,3"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=tmp_path, env=run_py_env(cache_dir),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not (sweep / "1" / "checkpoints" / "last.pt").is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (sweep / "0" / "metrics.json").is_file()  # finished before the kill
    assert not (sweep / "1" / "metrics.json").exists() and not (sweep / "2").exists()
    finished = (sweep / "0" / "metrics.json").stat().st_mtime_ns
    leftover = sweep / "1" / "checkpoints" / ".last.pt.k1ll3d.tmp"  # what a kill during a save leaves
    leftover.write_bytes(b"half a checkpoint")

    proc = run_py([*args, "trainer.resume=true"], tmp_path, cache_dir)
    assert (sweep / "0" / "metrics.json").stat().st_mtime_ns == finished
    assert "resumed from" in (sweep / "1" / "run.log").read_text() and not leftover.exists()
    for job in ("1", "2"):
        assert json.loads((sweep / job / "metrics.json").read_text())["epochs_run"] >= 1
    assert "3 runs: 3 done" in (sweep / "summary.md").read_text()


# -- under load ----------------------------------------------------------------------------------

def test_openmp_threads_sleep_when_waiting_unless_the_user_says_otherwise():
    show = "import iqa, os, torch; print(os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads() >= 1)"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = lambda extra: subprocess.run([sys.executable, "-c", show], env={**env, **extra}, cwd=ROOT,  # noqa: E731
                                       capture_output=True, text=True, check=True).stdout.split()[0]
    assert out({}) == "PASSIVE"
    assert out({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
    assert out({"GOMP_SPINCOUNT": "10000"}) == "None"
