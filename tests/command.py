"Running the `fastbird` command in a subprocess, as a user would, for the command-line tests."
import os, subprocess, sys

NO_NET = {'DDGS_PROXY': 'http://127.0.0.1:9'}  # no route to DuckDuckGo on any machine: nothing listens there

def fb(*args, env=None, **kw):
    "Run `python -m fastbird *args` with `env` added to this environment; the `CompletedProcess`, text mode."
    return subprocess.run([sys.executable, '-m', 'fastbird', *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)
