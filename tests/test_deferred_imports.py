"""ui/web/deferred_imports.py: a deferred library loads at its first use, and then works as itself.

Run in fresh interpreters: the test process may have imported pandas already."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=300)


def test_import_statements_bind_the_stand_in_and_first_use_loads_the_library():
    p = run("""
        import sys
        from ui.web.deferred_imports import DeferredModule, install, is_loaded
        assert install(("pandas", "no_such_library_kanmin")) == ["pandas"]  # a missing one is left alone
        assert install(("pandas",)) == []  # once
        import pandas as pd
        from pandas import DataFrame  # reads an attribute: loads
        assert is_loaded("pandas") and isinstance(pd, DeferredModule)
        assert isinstance(DataFrame({"a": [1]}), pd.DataFrame)
        assert type(sys.modules["pandas"]).__name__ == "module"  # the real one from now on
        print("ok")
    """)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]


def test_nothing_loads_until_used_and_a_submodule_import_loads_it():
    p = run("""
        import sys
        from ui.web.deferred_imports import install, is_loaded
        install(("pandas",))
        import pandas
        import pandas as pd
        assert not is_loaded("pandas") and not any(n.startswith("pandas.") for n in sys.modules)
        from pandas.io.formats.style import Styler  # needs pandas.__path__
        assert is_loaded("pandas") and Styler.__module__ == "pandas.io.formats.style"
        assert pd.Series([1, 2]).sum() == 3
        print("ok")
    """)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]
