"""Memory of a KonIQ-size image cache: 10,073 images of 512x384 uint8 (5.9 GB), memory-mapped.

Usage: python benchmarks/cache_memory.py [--images 10073] [--batches 20] [--workers 2]
Builds a cache entry of that size with the project's cache writer (`iqa.data.cache`) in a
temporary folder, the JPEG decoder replaced by synthetic pixels (decoding speed is measured in
data_pipeline.py; memory is what this measures), then opens it and draws training batches of
96 patches of 224 px through `iqa.data.train_loader` with DataLoader workers. Reports, from
/proc/<pid>/smaps (Linux), for the main process and each worker the resident pages of the cache
map (RSS, and PSS, which charges a page shared by k processes 1/k to each, so summed over the
processes it counts every page once) and the anonymous (private) memory.
Writes benchmarks/results/cache_memory_cpu.json; the temporary cache is deleted afterwards.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from common import command, machine, save

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from iqa import data  # noqa: E402
from iqa.config import LoaderConfig  # noqa: E402
from iqa.data import cache  # noqa: E402
from iqa.data.imageset import ImageSet  # noqa: E402

HEIGHT, WIDTH = 384, 512


def memory(pid, mapped: Path) -> dict:
    """MB of a process: resident pages of the `mapped` file (rss, and pss, which charges a page
    shared by k processes 1/k to each) and its anonymous (private, never file-backed) pss."""
    totals = {"map_rss": 0, "map_pss": 0, "anon_pss": 0}
    in_map = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):  # a mapping's header line
            in_map = line.endswith(str(mapped))
        elif in_map and head[0] in ("Rss:", "Pss:"):
            totals["map_" + head[0][:-1].lower()] += int(head[1])
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss_Anon:"):
            totals["anon_pss"] = int(line.split()[1])
    return {k: round(v / 1024, 1) for k, v in totals.items()}


def synthetic_pixels(path: Path, short_side):
    """Stands in for JPEG decoding: a 384x512 image whose content depends on its name."""
    return np.full((HEIGHT, WIDTH, 3), int(path.stem) % 256, dtype=np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10073)
    ap.add_argument("--batches", type=int, default=None, help="default: one epoch, one patch per image")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = [f"{i:05d}.jpg" for i in range(args.images)]
    with tempfile.TemporaryDirectory() as tmp:
        peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cache._try_decode = synthetic_pixels
        t0 = time.perf_counter()
        cache.cached_images("koniq_size", Path(tmp) / "none", names, 384, tmp, lambda it, **kw: it)
        build_s = time.perf_counter() - t0
        peak_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        found = cache.cached_images("koniq_size", Path(tmp) / "none", names, 384, tmp, lambda it, **kw: it)
        open_s = time.perf_counter() - t0
        pixels = found.folder / "pixels.u8"
        after_open = memory("self", pixels)
        images = ImageSet("koniq_size", [found.images[n] for n in names], np.zeros(len(names), np.float32),
                          np.arange(len(names)), names)
        loader_cfg = OmegaConf.merge(OmegaConf.structured(LoaderConfig), {
            "patch_size": 224, "batch_size": 96, "train_patch_num": 1, "num_workers": args.workers})
        loader = data.train_loader(images, loader_cfg, seed=0)
        n_batches = min(args.batches or len(loader), len(loader))
        batches = iter(loader)
        t0 = time.perf_counter()
        for _ in range(n_batches):
            next(batches)
        draw_s = time.perf_counter() - t0
        procs = {"main": memory("self", pixels)}
        procs.update({f"worker{i}": memory(w.pid, pixels) for i, w in enumerate(getattr(batches, "_workers", []))})
        disk = pixels.stat().st_size
        del batches
    patches = n_batches * 96
    result = {
        "command": command(), "machine": machine(torch.device("cpu")),
        "cache": {"images": args.images, "size": f"{WIDTH}x{HEIGHT}", "disk_gb": round(disk / 1e9, 2),
                  "build_s": round(build_s, 1), "open_s": round(open_s, 3)},
        "rss_peak_growth_while_building_mb": round(peak_build - peak0, 1),
        "after_open_mb": after_open,
        "draw": {"batches": n_batches, "patches": patches, "patch": 224, "workers": args.workers,
                 "patches_per_s": round(patches / draw_s, 1),
                 "patch_rows_touched_mb": round(patches * 224 * WIDTH * 3 / 2**20, 1)},
        "after_draw_mb": procs,
        "map_pss_total_mb": round(sum(p["map_pss"] for p in procs.values()), 1),
        "map_rss_sum_mb": round(sum(p["map_rss"] for p in procs.values()), 1),
    }
    save("cache_memory_cpu", result)
    print(f"cache {result['cache']['disk_gb']} GB built in {build_s:.0f} s (peak RSS +{result['rss_peak_growth_while_building_mb']} MB), "
          f"opened in {open_s * 1000:.0f} ms (resident map {after_open['map_rss']} MB); after {patches} patches: "
          f"map resident {result['map_pss_total_mb']} MB across {len(procs)} processes")

if __name__ == "__main__":
    main()
