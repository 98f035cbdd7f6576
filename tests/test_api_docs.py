"Every exported function and class has a docstring, so its docs entry says what it does."
import importlib, inspect, pkgutil
import pytest
import fastbird

MODULES = sorted(m.name for m in pkgutil.iter_modules(fastbird.__path__) if not m.name.startswith('_'))

@pytest.mark.parametrize('name', MODULES)
def test_exports_have_docstrings(name):
    mod = importlib.import_module(f'fastbird.{name}')
    undocumented = [n for n in getattr(mod, '__all__', []) if (inspect.isfunction(o := getattr(mod, n)) or inspect.isclass(o))
                    and not (o.__doc__ or '').strip()]
    assert not undocumented, f'fastbird.{name}: no docstring for {undocumented}'
