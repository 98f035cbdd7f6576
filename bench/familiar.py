"""How well a saved model tells photos unlike its training photos ("doesn't look like any of: ..."), and what the check
costs.

    .venv/bin/python bench/familiar.py [--recipe probe|lesson] [--repeat N]

Two models, each trained by `train(..., refit=False)` on the lesson split's training photos only: the birds model
(bird, forest) and the pets model (cat, dog). Each is asked, through `fastbird predict --json` on its saved folder (the
ONNX engine, as a user runs it), about its own validation photos (new photos of its labels: the share flagged
`"known": false` should be small) and about every photo of the other data set (never trained on: the share flagged
should be large), and about 15 made-up pictures (plain squares of ten colours, five of random noise). Then, through the
library on the same folder: the time per photo of the check next to the time of inference, the time loading takes,
`fastbird predict`'s wall time with and without the check, and how much the model folder grew. Prints tables, and which
new photos were flagged (to look at: web-search junk, or a real photo of a label?); asserts nothing."""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np
from PIL import Image

def predict_json(model_dir, photos) -> list:
    "`fastbird predict MODEL_DIR PHOTO... --json`, one answer per photo."
    r = subprocess.run([sys.executable, '-m', 'fastbird', 'predict', str(model_dir), *map(str, photos), '--json'],
                       capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"fastbird predict failed:\n{r.stderr}")
    return [json.loads(l) for l in r.stdout.splitlines()]

def auroc(familiar, unfamiliar) -> float:
    "The chance that a familiar photo's similarity is above an unfamiliar one's."
    a, b = np.asarray(familiar), np.asarray(unfamiliar)
    return float((a[:, None] > b[None]).mean() + 0.5*(a[:, None] == b[None]).mean())

COLOURS = ('red', 'green', 'blue', 'grey', 'white', 'black', 'orange', 'skyblue', 'darkgreen', 'brown')

def made_up_pictures() -> list:
    "Ten plain squares (of `COLOURS`) and five pictures of random noise."
    rng = np.random.default_rng(0)
    return ([Image.new('RGB', (300, 200), c) for c in COLOURS]
            + [Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)) for _ in range(5)])

def made_up(d:Path) -> list:
    "`made_up_pictures`, saved in `d`."
    fs = [d/f'{c}.png' for c in COLOURS] + [d/f'noise{i}.png' for i in range(5)]
    for f, im in zip(fs, made_up_pictures()): im.save(f)
    return fs

def median_time(f, n:int) -> float:
    "Median seconds of `f()` over `n` calls, after one untimed call."
    f(); ts = []
    for _ in range(n): t = time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    return statistics.median(ts)

def wall(cmd, n:int) -> float:
    "Median wall seconds of running `cmd` to completion, `n` times."
    ts = []
    for _ in range(n):
        t = time.perf_counter(); subprocess.run(cmd, capture_output=True, check=True); ts.append(time.perf_counter()-t)
    return statistics.median(ts)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--recipe', default='probe', choices=['probe', 'lesson'], help='training recipe (default: %(default)s)')
    ap.add_argument('--repeat', type=int, default=20, help='timed calls per measurement (default: %(default)s)')
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    from fastai.vision.all import get_image_files
    from fastbird.data import lesson_data, split_files
    from fastbird.learner import train
    from fastbird.model import FAMILIAR_FILE, _load_familiarity, _read_meta, load_classifier, model_outputs
    tmp = Path(tempfile.mkdtemp())
    try:
        sets = {'birds': lesson_data('birds'), 'pets': lesson_data('pets')}
        fake = made_up(Path(tmp))
        rows, models, odd_ones = [], {}, {}
        for name, other in (('birds', 'pets'), ('pets', 'birds')):
            res = train(sets[name], tmp/name, arch='efficientnet_lite0', recipe=a.recipe, refit=False, verbose=False)
            models[name] = res.model_dir
            _, val = split_files(sets[name])
            new, strange, odd = (predict_json(res.model_dir, fs) for fs in (val, get_image_files(sets[other]), fake))
            flagged = lambda ans: np.mean([not o['known'] for o in ans])
            fam = json.loads((res.model_dir/'model.json').read_text())['familiarity']
            odd_ones[name] = [(f"{f.parent.name}/{f.name}", o['similarity']) for f, o in zip(val, new) if not o['known']]
            rows.append((f"{name} ({', '.join(load_classifier(res.model_dir).labels)})", fam['photos'], fam['threshold'],
                         f"{flagged(new):.1%} of {len(new)}", f"{other}: {flagged(strange):.1%} of {len(strange)}",
                         f"{flagged(odd):.0%} of {len(odd)}", auroc([o['similarity'] for o in new], [o['similarity'] for o in strange])))
        print(f"recipe {a.recipe}, backbone efficientnet_lite0, each model trained on its lesson split's training photos "
              f"(refit=False), asked through `fastbird predict --json`; cores {os.cpu_count()}\n")
        print("| model | training photos kept | threshold | new photos of its labels flagged | the other set's photos flagged "
              "| squares, noise flagged | AUROC |\n|---|---|---|---|---|---|---|")
        for r in rows: print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]} | {r[4]} | {r[5]} | {r[6]:.3f} |")
        for name, odd in odd_ones.items():
            print(f"\nnew photos the {name} model flagged: " + (', '.join(f"{f} ({s:.3f})" for f, s in odd) or 'none'))

        d = models['birds']
        m = load_classifier(d)
        photo = split_files(sets['birds'])[1][0]
        _, feats = model_outputs(m, [photo])
        infer = median_time(lambda: model_outputs(m, [photo]), a.repeat)
        check = median_time(lambda: m.familiar.similarity(feats), a.repeat*10)
        load = median_time(lambda: load_classifier(d), max(3, a.repeat//4))
        meta = _read_meta(d)
        load_fam = median_time(lambda: _load_familiarity(d, meta), a.repeat)
        old = Path(shutil.copytree(d, tmp/'older'))
        (old/FAMILIAR_FILE).unlink()
        (old/'model.json').write_text(json.dumps({k: v for k, v in meta.items() if k != 'familiarity'}, indent=2))
        fb = [sys.executable, '-m', 'fastbird', 'predict']
        n = max(3, a.repeat//4)
        with_check, without = wall(fb+[str(d), str(photo)], n), wall(fb+[str(old), str(photo)], n)
        sizes = {f.name: f.stat().st_size for f in d.iterdir()}
        grew = sizes[FAMILIAR_FILE] + len((d/'model.json').read_text()) - len((old/'model.json').read_text())
        print(f"\nthe birds model ({len(m.familiar.ref)} training photos kept, {m.familiar.ref.shape[1]} features each), ONNX engine, one photo:\n")
        print("| | seconds |\n|---|---|")
        print(f"| inference, `model_outputs` (read, squish, the graph) | {infer:.4f} |")
        print(f"| the check, `familiar.similarity` | {check:.6f} ({check/infer:.2%} of inference) |")
        print(f"| `load_classifier` | {load:.3f} |")
        print(f"| of which reading {FAMILIAR_FILE} | {load_fam:.4f} |")
        print(f"| `fastbird predict` wall time, with the check | {with_check:.2f} |")
        print(f"| `fastbird predict` wall time, a folder without it | {without:.2f} |")
        print(f"\nthe folder grew by {grew/2**20:.2f} MB ({FAMILIAR_FILE} {sizes[FAMILIAR_FILE]/2**20:.2f} MB and "
              f"{grew-sizes[FAMILIAR_FILE]} bytes of model.json), to {sum(sizes.values())/2**20:.1f} MB; at most "
              f"{1000*m.familiar.ref.shape[1]*2/2**20:.1f} MB for this backbone (1000 photos kept at most)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__': main()
