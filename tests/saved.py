"""Saved outputs that still match the code.

The docs pages show the outputs saved in the notebooks, and the page's prose reads them. So when a notebook runs in the
tests, every cell's text output is compared with the saved one: a message the code no longer prints, or a value of
another shape, fails the test. A cell whose output depends on the photos, the machine or the clock (the tests run the
lesson pages on other photos than the ones the saved outputs came from) carries the cell tag `varies`, and only its
presence is checked. Pictures and HTML are not compared; stderr (warnings, notes that depend on the connection) is not
either.

A cell tagged `raises-exception` (the first web cell) is saved without outputs, which depend on the connection, and
is not compared either.

A visible cell whose last statement is an expression shows what it evaluates to, so it must have a saved output (unless
it is not run by the tests: flagged `notest`, `slow`, `network` or `eval: false`; or it may stop, tagged
`raises-exception`, and is saved without outputs because they depend on the machine's connection).
"""
import ast, re
from elsewhere import SKIP  # the cells the tests leave out: flagged as pyproject's tst_flags say, or `eval: false`

VARIES = 'varies'
HIDDEN = re.compile(r'^#\|\s*(hide\b|include:\s*false|echo:\s*false)', re.M)
ADDRESS = re.compile(r' at 0x[0-9a-f]+')  # object reprs print their memory address

def texts(cell) -> str:
    "The text a cell's outputs show: its printed lines (stdout) and the plain text of its results, normalised."
    out = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream' and o.get('name') == 'stdout': out.append(o.get('text', ''))
        elif o.get('output_type') == 'execute_result': out.append(o.get('data', {}).get('text/plain', ''))
        elif o.get('output_type') == 'error': out.append(f"{o.get('ename')}: {o.get('evalue')}")
    return '\n'.join(ADDRESS.sub(' at 0x...', '\n'.join(l.rstrip() for l in t.splitlines())) for t in out).strip()

def stale(saved_nb, fresh_nb) -> list:
    "(cell id, saved text, fresh text) for each cell not tagged `varies` whose text output changed, matched by cell id."
    fresh = {c.id: c for c in fresh_nb.cells if c.cell_type == 'code'}
    res = []
    for c in saved_nb.cells:
        tags = c.metadata.get('tags', [])
        if c.cell_type != 'code' or c.id not in fresh or VARIES in tags or 'raises-exception' in tags: continue
        was, now = texts(c), texts(fresh[c.id])
        if was != now: res.append((c.id, was, now))
    return res

SHOWS_NOTHING = re.compile(r'^(test\w*|print|display|plt\.\w+|\w+\.(close|unlink|rmdir|mkdir|write_text|write_bytes))$')

def ends_in_expression(source:str) -> bool:
    "Does the cell's code end in an expression whose value Jupyter shows (not silenced with `;`, not a check like `test_eq`)?"
    code = '\n'.join(l for l in source.splitlines() if not l.lstrip().startswith(('%', '!', '#|')))
    try: body = ast.parse(code).body
    except SyntaxError: return False
    if not body or not isinstance(body[-1], ast.Expr) or code.rstrip().endswith(';'): return False
    e = body[-1].value
    return not (isinstance(e, ast.Call) and SHOWS_NOTHING.match(ast.unparse(e.func)))  # calls that return None

def missing(saved_nb) -> list:
    "Ids of visible cells the tests run that end in an expression but have no saved output."
    return [c.id for c in saved_nb.cells if c.cell_type == 'code' and not HIDDEN.search(c.source)
            and not SKIP.search(c.source) and 'raises-exception' not in c.metadata.get('tags', [])
            and ends_in_expression(c.source) and not c.get('outputs')]
