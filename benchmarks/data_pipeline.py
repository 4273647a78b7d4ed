"""Training patches per second: the decode-once cache against decoding the JPEG for every patch.

    python benchmarks/data_pipeline.py [--images 48] [--repeats 3]

Writes KonIQ-sized JPEGs (1024x768) into a temporary folder as a `csv` dataset, then, in one
process and alternating repeat by repeat:
- cached: the project's pipeline (the images decoded once, resized to a 384 px shorter side and
  memory-mapped; each patch a slice of the map; random crop, flip, batching), delivering uint8
  batches that the training step normalises on its device;
- cached + CPU normalisation: the same with the float normalisation done on the CPU, i.e. the
  exact tensor the reference loader delivers;
- reference: what the reference HyperIQA loader does for every patch: open the JPEG with PIL,
  horizontal flip, resize to (512, 384), random crop, to tensor, normalise.
Both use the same files, patch size, batch size and num_workers, and one torch thread. The one-time cost of building
the cache is reported too. Results go to benchmarks/results/data_pipeline_cpu.json.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import KONIQ_SIZE, ROOT, jpeg_dataset_config, write_jpegs

import torch  # noqa: E402
import torchvision.transforms as T  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from iqa import data  # noqa: E402
from iqa.atomic import write_json  # noqa: E402
from iqa.config import LoaderConfig  # noqa: E402
from iqa.data.patches import normalize  # noqa: E402


class ReferencePatches(Dataset):
    """One patch per item, decoded from the JPEG every time (the reference's Koniq_10kFolder way)."""

    def __init__(self, paths, patch: int):
        self.paths = paths
        self.transform = T.Compose([
            T.RandomHorizontalFlip(), T.Resize((512, 384)), T.RandomCrop(size=patch), T.ToTensor(),
            T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            img = Image.open(f).convert("RGB")
        return self.transform(img), torch.tensor(0.0)


def patches_per_second(loader, batches: int, prepare) -> float:
    """Patches delivered per second over the first `batches` batches of a fresh pass."""
    start, count = time.perf_counter(), 0
    for step, (patch, *_rest) in enumerate(loader):
        prepare(patch)
        count += len(patch)
        if step + 1 == batches:
            break
    return count / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--patch", type=int, default=224)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reference-batches", type=int, default=3)
    ap.add_argument("--cached-batches", type=int, default=60)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "data_pipeline_cpu.json"))
    args = ap.parse_args()
    torch.manual_seed(0)
    # Loading runs single-threaded, as in DataLoader workers: on a busy CPU, torch's intra-op
    # threads make small per-patch operations many times slower for both pipelines.
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_jpegs(root, args.images)
        data_cfg = jpeg_dataset_config(root)
        loader_cfg = OmegaConf.merge(OmegaConf.structured(LoaderConfig), {
            "patch_size": args.patch, "batch_size": args.batch, "train_patch_num": 25, "num_workers": args.workers})
        t0 = time.perf_counter()
        data.load_dataset("csv", data_cfg)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        images = data.load_dataset("csv", data_cfg)
        open_s = time.perf_counter() - t0
        cached_loader = data.train_loader(images, loader_cfg, seed=0)
        reference_loader = DataLoader(ReferencePatches(paths * 25, args.patch),
                                      batch_size=args.batch, shuffle=True, num_workers=args.workers)
        rates = {"cached": [], "cached_cpu_normalised": [], "reference": []}
        for epoch in range(args.repeats):
            cached_loader.sampler.set_epoch(2 * epoch)
            rates["cached"].append(patches_per_second(cached_loader, args.cached_batches, lambda p: p))
            cached_loader.sampler.set_epoch(2 * epoch + 1)
            rates["cached_cpu_normalised"].append(patches_per_second(cached_loader, args.cached_batches, normalize))
            rates["reference"].append(patches_per_second(reference_loader, args.reference_batches, lambda p: p))
        cache_bytes = sum(img.nbytes for img in images.images)
    result = {
        "what": "training patches per second: decode-once memory-mapped cache vs decoding the JPEG per patch",
        "command": "python benchmarks/data_pipeline.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform(), "torch": torch.__version__},
        "files": {"count": args.images, "size": "%dx%d" % KONIQ_SIZE, "format": "JPEG q90"},
        "patch": args.patch, "batch": args.batch, "num_workers": args.workers, "repeats": args.repeats,
        "patches_per_s": {name: statistics.median(r) for name, r in rates.items()},
        "all_rates": rates,
        "cache_build_s": round(build_s, 3), "cache_open_s": round(open_s, 4),
        "cache_mb": round(cache_bytes / 2**20, 1),
    }
    rate = result["patches_per_s"]
    result["speedup"] = {name: rate[name] / rate["reference"] for name in ("cached", "cached_cpu_normalised")}
    # Decoding once costs as much as this many reference patches; past that the cache is ahead.
    result["cache_pays_off_after_patches"] = round(build_s * rate["reference"])
    write_json(args.out, result)
    print(f"reference {rate['reference']:.1f} patches/s | cached {rate['cached']:.0f} patches/s "
          f"({result['speedup']['cached']:.1f}x) | cached + CPU normalisation {rate['cached_cpu_normalised']:.0f} "
          f"patches/s ({result['speedup']['cached_cpu_normalised']:.1f}x) | cache built in {build_s:.1f} s, "
          f"opened in {open_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
