"""How the familiarity check's features, `k` and quantile were chosen: the table in the model notebook.

    .venv/bin/python bench/familiar_choices.py [--splits N]

The features of every photo of the two lesson data sets (birds: bird, forest; pets: cat, dog) and of 15 made-up
pictures (plain squares of ten colours, five of random noise) are computed once, by `image_features(..., stages=True)`
at the probe's size, as `train` computes them. Then, for each of N random 80/20 splits (`split_files` with seeds
0..N-1, of the sorted files) and each way of scoring: a `Familiarity` is calibrated on each model's training photos
(`calibrate_familiarity`), and asked about its held-out fifth (new photos of its labels: the share flagged should be
small), every photo of the other data set (never trained on: the share flagged should be large) and the made-up
pictures. Prints the means over the splits, the share of splits where both models flag at most 5% of their new photos
and at least 95% of the other set's (the bar issue 14 sets), and AUROC (the chance that a new photo of its labels
scores above a photo of the other set). Asserts nothing."""
import argparse, os, warnings
import numpy as np
from familiar import auroc, made_up_pictures  # bench/familiar.py, beside this script

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--splits', type=int, default=500, help='random 80/20 splits (default: %(default)s)')
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    from fastai.vision.all import get_image_files
    from fastbird.backbones import image_features
    from fastbird.data import lesson_data, split_files
    from fastbird.backbones import BACKBONES
    from fastbird.model import calibrate_familiarity
    arch = 'efficientnet_lite0'
    size = BACKBONES[arch].size  # the probe's, as `train` computes them
    sets = {n: lesson_data(n) for n in ('birds', 'pets')}
    files = {n: sorted(get_image_files(p)) for n, p in sets.items()}
    both = {n: image_features(fs, arch, size=size, stages=True) for n, fs in files.items()}
    feats = {n: sf.numpy() for n, (_, sf) in both.items()}
    fake = image_features(made_up_pictures(), arch, size=size, stages=True)[1].numpy()
    w = both['birds'][0].shape[1]  # the body's own pooled features: the last part of `stage_features`
    ways = [('the last layer', 3, 0.02), ('the last layer', 3, 0.04), ('three stages', 1, 0.02), ('three stages', 3, 0.01),
            ('three stages', 3, 0.02), ('three stages', 3, 0.03), ('three stages', 3, 0.04), ('three stages', 5, 0.02),
            ('three stages', 10, 0.02), ('three stages, centred', 3, 0.02)]
    index = {n: {f: i for i, f in enumerate(fs)} for n, fs in files.items()}
    splits = [{n: np.isin(np.arange(len(files[n])), [index[n][f] for f in split_files(files[n], 0.2, seed)[1]]) for n in sets}
              for seed in range(a.splits)]
    print(f"backbone {arch}, size {size}, {a.splits} random 80/20 splits of each set ({len(files['birds'])} birds and "
          f"forests, {len(files['pets'])} cats and dogs), cores {os.cpu_count()}; shares flagged are means over the splits\n")
    print("| features | k | quantile | birds model: new birds, forests | : cats, dogs | pets model: new cats, dogs | : birds, forests "
          "| both: squares, noise | splits within both bars | AUROC birds | AUROC pets |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for name, k, q in ways:
        rows = []
        for val in splits:
            r = []
            for mine, other in (('birds', 'pets'), ('pets', 'birds')):
                A, O, Z = feats[mine], feats[other], fake
                if name == 'the last layer': A, O, Z = A[:, -w:], O[:, -w:], Z[:, -w:]  # the body's own part, scaled to length 1
                if name.endswith('centred'):
                    mu = A[~val[mine]].mean(0); A, O, Z = A-mu, O-mu, Z-mu
                fam = calibrate_familiarity(A[~val[mine]], k, q)
                new, strange = fam.similarity(A[val[mine]]), fam.similarity(O)
                r += [(new < fam.threshold).mean(), (strange < fam.threshold).mean(), (fam.similarity(Z) < fam.threshold).mean(),
                      auroc(new, strange)]
            rows.append(r)
        m = np.array(rows).mean(0)
        ok = np.mean([(r[0] <= 0.05) and (r[1] >= 0.95) and (r[4] <= 0.05) and (r[5] >= 0.95) for r in rows])
        print(f"| {name} | {k} | {q:.0%} | {m[0]:.1%} | {m[1]:.1%} | {m[4]:.1%} | {m[5]:.1%} | {(m[2]+m[6])/2:.0%} | {ok:.0%} "
              f"| {m[3]:.3f} | {m[7]:.3f} |")


if __name__ == '__main__': main()
