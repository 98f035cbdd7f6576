"""Start-up time, time per prediction and memory of the app: `fastbird app MODEL` and a Space folder's `python app.py`
(written by `fastbird space`, run from a temporary folder), each served on a free loopback port in a fresh process.

    .venv/bin/python bench/app.py [--data DIR] [--n N]

Start-up is from the process's start to the page's first answer; a prediction is one `gradio_client` call with a photo
(upload, prediction and answer), the median of N. Prints a table; asserts nothing. The model is trained first (a linear
probe on DIR, a few seconds), outside the timings."""
import argparse, os, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'
def fastbird(*args) -> list:
    "The command line `fastbird *args`."
    return [sys.executable, '-m', 'fastbird', *map(str, args)]

def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def answers(url) -> bool:
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=2) as r: return r.status==200
    except OSError: return False

def measure(cmd, cwd, photo, n, env=None) -> tuple:
    "(start-up seconds, median seconds a prediction, peak resident MiB) of the server `cmd`."
    port = free_port(); url = f'http://127.0.0.1:{port}/'
    start = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, 'GRADIO_SERVER_PORT': str(port), **(env or {})},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not answers(url):
            if p.poll() is not None or time.perf_counter()-start > 180: raise SystemExit(f"{cmd} did not start")
            time.sleep(0.05)
        startup = time.perf_counter()-start
        from gradio_client import Client, handle_file  # after the start, which it would slow down
        c = Client(url, verbose=False, analytics_enabled=False)
        c.predict(handle_file(str(photo)), api_name='/predict')  # the first call warms ONNX Runtime up
        times = []
        for _ in range(n):
            t = time.perf_counter(); c.predict(handle_file(str(photo)), api_name='/predict'); times.append(time.perf_counter()-t)
    finally:
        p.send_signal(signal.SIGINT)
        _, _, usage = os.wait4(p.pid, 0)
    return startup, statistics.median(times), usage.ru_maxrss/1024

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', help='folder with one subfolder of photos per label (default: lesson_data("birds"))')
    ap.add_argument('--n', type=int, default=10, help='predictions to time after a first one; the median is shown (default: %(default)s)')
    a = ap.parse_args()
    data = a.data or subprocess.run([sys.executable, '-c', "from fastbird.data import lesson_data; print(lesson_data('birds'))"],
                                    capture_output=True, text=True, check=True).stdout.strip()
    photo = sorted(Path(data).rglob('*.jpg'))[0]
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, '-m', 'fastbird', 'train', str(data), '--out', str(tmp/'model'), '--arch', 'efficientnet_lite0'],
                   check=True, capture_output=True)
    subprocess.run(fastbird('space', tmp/'model', tmp/'space'), check=True, capture_output=True)
    cases = {'fastbird app MODEL': (fastbird('app', tmp/'model'), tmp),
             "Space folder's python app.py": ([sys.executable, 'app.py'], tmp/'space')}
    print(f"{'':32} {'start-up':>9} {'per prediction':>15} {'peak memory':>12}")
    for name, (cmd, cwd) in cases.items():
        startup, per, mem = measure(cmd, cwd, photo, a.n)
        print(f"{name:32} {startup:8.2f}s {per*1000:13.0f}ms {mem:9.0f} MiB", flush=True)

if __name__ == '__main__':
    main()
