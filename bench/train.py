"""Benchmark: the lesson's training recipe against fastbird's linear probe, on the shared photos.

Runs in one process on `birds` and `pets` (from `$FASTBIRD_DATA` or `../shared/data`), each with the same fixed
held-out split (the lesson's `RandomSplitter(0.2, seed=42)`) and the same backbone, and prints for each recipe: wall
time of training, training images per second (training photos / wall time), and error and accuracy on the held-out
photos. The lesson's recipe is exactly `vision_learner(dls, arch, metrics=error_rate).fine_tune(3)` on
`Resize(192, method='squish')` batches of 32, default learning rate; fastbird's default is the linear probe,
`fit_features` (logistic regression on the frozen backbone's pooled features at the backbone's own size).

`--why` adds variants on birds that separate the reasons the lesson's recipe does worse on ~170 photos. `--sizes 192
224` adds the linear probe at each size, on the same split of each data set (the probe's size is its backbone's own,
224, rather than the lesson's 192: this prints why). Timings on a shared CPU are noisy: the load average is printed
before and after.

    .venv/bin/python bench/train.py [--arch auto] [--datasets birds pets] [--why] [--sizes 192 224] [--only-sizes]
"""
import argparse, os, tempfile, time, warnings
from pathlib import Path

import numpy as np, torch


def row(*cols, widths=(6, 26, 6, 6, 7, 11, 7, 9, 9)):
    print('  '.join(str(c).ljust(w) for c, w in zip(cols, widths)), flush=True)

HEADER = ('data', 'recipe', 'train', 'valid', 'wall s', 'train im/s', 'error', 'accuracy', 'log loss')

def report(ds, recipe, n_train, n_valid, seconds, err, nll=float('nan')):
    row(ds, recipe, n_train, n_valid, f'{seconds:.1f}', f'{n_train/seconds:.1f}', f'{err:.3f}', f'{1-err:.3f}', f'{nll:.3f}')

def why(path, arch):
    "Variants on one data set: is it unfreezing the body, the new head, or the number of steps?"
    from fastai.vision.all import error_rate, parent_label, set_seed, vision_learner
    from fastbird.data import lesson_block
    from fastbird.data import split_files
    from fastbird.backbones import BACKBONES
    from fastbird.model import from_learner
    from fastbird.learner import LESSON_SIZE, fit_features, valid_error
    trn, val = split_files(path)
    ytrn, yval = [parent_label(f) for f in trn], [parent_label(f) for f in val]
    variants = [('fine_tune(3) (lesson)', 32, lambda l: l.fine_tune(3)),
                ('fine_tune(3), bs=8', 8, lambda l: l.fine_tune(3)),
                ('head only, 4 epochs', 32, lambda l: l.fit_one_cycle(4, 2e-3)),
                ('head only, 12 epochs', 32, lambda l: l.fit_one_cycle(12, 2e-3))]
    for name, bs, fit in variants:
        set_seed(42)
        start = time.time()
        dls = lesson_block().dataloaders(path, bs=bs, num_workers=0)
        learn = vision_learner(dls, BACKBONES[arch].arch, metrics=error_rate, path=tempfile.mkdtemp())
        with learn.no_bar(), learn.no_logging(): fit(learn)
        report(path.name, name, len(trn), len(val), time.time()-start, valid_error(from_learner(learn, LESSON_SIZE), val, yval))
    for C in (0.03, 0.3, 3.0):
        start = time.time()
        m = fit_features(trn, ytrn, arch, C=C)
        report(path.name, f'linear probe C={C}', len(trn), len(val), time.time()-start, valid_error(m, val, yval))

def sizes(path, arch, sizes, seeds):
    """The linear probe at each of `sizes`, fit on the same training photos and scored on the same held-out ones, for
    each split of `seeds`: the features of every photo are computed once per size, and the probe's logistic regression
    (`linear_probe`'s, with its `C`) fit on those of each split's training photos."""
    import numpy as np
    from fastai.vision.all import get_image_files, parent_label
    from sklearn.linear_model import LogisticRegression
    from fastbird.backbones import image_features
    from fastbird.data import split_files
    from fastbird.learner import DEFAULT_C, valid_scores
    files = list(get_image_files(path))
    y, where = np.array([parent_label(f) for f in files]), {f: i for i, f in enumerate(files)}
    splits = [[np.array([where[f] for f in part]) for part in split_files(files, seed=seed)] for seed in seeds]
    for size in sizes:
        start = time.time()
        X = image_features(files, arch, size=size).numpy()
        secs = time.time()-start
        scores = []
        for trn, val in splits:
            lr = LogisticRegression(C=DEFAULT_C, max_iter=5000).fit(X[trn], y[trn])
            scores.append(valid_scores(lr.predict_proba(X[val]), y[val], lr.classes_))
        err, nll = (float(np.mean([sc[k] for sc in scores])) for k in ('error', 'log loss'))
        first = scores[0]
        what = f'probe @{size}' + (f', {len(seeds)} splits' if len(seeds)>1 else '')
        report(path.name, what, len(splits[0][0]), len(splits[0][1]), secs, err, nll)
        if len(seeds)>1: print(f"        the lesson's split alone: error {first['error']:.3f}, log loss {first['log loss']:.3f}", flush=True)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='auto', help="'auto', 'resnet18' or 'efficientnet_lite0'")
    p.add_argument('--datasets', nargs='+', default=['birds', 'pets'])
    p.add_argument('--repeat', type=int, default=0, help='also average over this many other random splits')
    p.add_argument('--why', action='store_true', help='also run the variants that explain the difference (birds)')
    p.add_argument('--sizes', type=int, nargs='+', help='also the linear probe at each of these sizes, on the same split')
    p.add_argument('--only-sizes', action='store_true', help='run only the sizes (with --sizes)')
    a = p.parse_args()
    warnings.filterwarnings('ignore', category=FutureWarning)
    from fastbird.data import lesson_data
    from fastbird.data import split_files
    from fastbird.learner import LESSON_SIZE, train
    from fastbird.backbones import BACKBONES, resolve_arch
    arch = resolve_arch(a.arch)
    print(f"backbone {arch}; torch threads {torch.get_num_threads()}; CPUs {os.cpu_count()}; "
          f"load average before {os.getloadavg()[0]:.1f} (shared CPU: timings are noisy)", flush=True)
    names = {'lesson': f'lesson: fine_tune(3) @{LESSON_SIZE}', 'probe': f'linear probe @{BACKBONES[arch].size}'}
    seeds = [42] + list(range(1, a.repeat+1))
    if a.sizes:
        print(f"\nthe linear probe at each size, on the same splits (RandomSplitter(0.2, seed) for seeds {seeds}; "
              "wall s: computing the features of every photo)", flush=True)
        row(*HEADER)
        for ds in a.datasets: sizes(lesson_data(ds), arch, a.sizes, seeds)
        if a.only_sizes: return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            print(f"\nsplit: RandomSplitter(0.2, seed={seed})" + (' (the lesson\'s)' if seed==42 else ''), flush=True)
            row(*HEADER)
            for ds in a.datasets:
                path = lesson_data(ds)
                _, val = split_files(path, seed=seed)
                for recipe in ('lesson', 'probe'):
                    res = train(path, Path(tmp)/f'{ds}-{recipe}-{seed}', arch=arch, recipe=recipe, seed=seed, verbose=False)
                    nll = res.valid_log_loss  # measured before the probe is refit on every photo
                    results.setdefault((ds, recipe), []).append((res.seconds, res.n_train, res.valid_error, nll))
                    report(ds, names[recipe], res.n_train, res.n_valid, res.seconds, res.valid_error, nll)
        if len(seeds) > 1:
            print(f"\nmean over the {len(seeds)} splits", flush=True)
            row(*HEADER)
            for (ds, recipe), rs in results.items():
                secs, n, err, nll = map(np.mean, zip(*rs))
                report(ds, names[recipe], int(n), '', secs, err, nll)
        if a.why:
            print("\nwhy: variants on birds, the lesson's split", flush=True)
            row(*HEADER)
            why(lesson_data('birds'), arch)
    print(f"\nload average after {os.getloadavg()[0]:.1f}", flush=True)

if __name__ == '__main__': main()
