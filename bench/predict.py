"""Time and memory of predicting one photo, each in a fresh process: `fastbird predict MODEL PHOTO` (ONNX Runtime, the
saved graph), the same folder through torch (`load_classifier(MODEL, engine='torch')`), and, with `--before REV`,
`fastbird predict` of an earlier commit (which must read the same model format).

    .venv/bin/python bench/predict.py [--data DIR] [--before REV] [--repeat N]

Prints a table; asserts nothing. The model is trained first (a linear probe on DIR, a few seconds), outside the timings."""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def run(cmd, env=None) -> tuple:
    "Wall seconds and peak resident memory (MiB) of `cmd`, run to completion in a fresh process."
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - start
    out, err = p.stdout.read().decode(), p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status): raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{err}")
    return secs, usage.ru_maxrss/1024, out.strip()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', help='folder with one subfolder of photos per label (default: lesson_data("birds"))')
    ap.add_argument('--before', help='git revision whose `fastbird predict` to compare with (none by default)')
    ap.add_argument('--repeat', type=int, default=3, help='runs of each case; the median time is shown (default: %(default)s)')
    a = ap.parse_args()
    # this process stays small (no fastbird, no torch), since a child's peak memory counts what it was forked from
    data = a.data or subprocess.run([sys.executable, '-c', "from fastbird.data import lesson_data; print(lesson_data('birds'))"],
                                    capture_output=True, text=True, check=True).stdout.strip()
    photo = str(sorted(Path(data).rglob('*.jpg'))[0])
    tmp = Path(tempfile.mkdtemp())
    model = tmp/'model'
    subprocess.run([sys.executable, '-m', 'fastbird', 'train', str(data), '--out', str(model), '--arch', 'efficientnet_lite0'],
                   check=True, capture_output=True)
    fb = [sys.executable, '-m', 'fastbird', 'predict']
    through_torch = ("import sys; from fastbird.model import load_classifier, predict; "
                     "print(predict(load_classifier(sys.argv[1], engine='torch'), sys.argv[2]).label)")
    cases = {'ONNX Runtime (this commit)': (fb+[str(model), photo], None),
             'through torch (this commit)': ([sys.executable, '-c', through_torch, str(model), photo], None)}
    if a.before:
        wt = tmp/'before'
        subprocess.run(['git', '-C', str(ROOT), 'worktree', 'add', '--detach', str(wt), a.before], check=True, capture_output=True)
        cases[f'before ({a.before})'] = (fb+[str(model), photo], {**os.environ, 'PYTHONPATH': str(wt)})
    try:
        print(f"one photo ({Path(photo).name}), model {model.name}: {sum(f.stat().st_size for f in model.iterdir())/2**20:.1f} MB, "
              f"{a.repeat} runs each, cores {os.cpu_count()}\n")
        print(f"| {'case':<40} | wall s (median) | peak MiB | answer |\n|{'-'*42}|---|---|---|")
        for name, (cmd, env) in cases.items():
            runs = [run(cmd, env) for _ in range(a.repeat)]
            print(f"| {name:<40} | {statistics.median(r[0] for r in runs):.2f} | {max(r[1] for r in runs):.0f} | {runs[0][2].split(': ', 1)[-1]} |", flush=True)
    finally:
        if a.before: subprocess.run(['git', '-C', str(ROOT), 'worktree', 'remove', '--force', str(tmp/'before')], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__': main()
