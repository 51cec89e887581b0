"""`make demo` must keep telling its story: every step checks its own exit code."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

from pcipass import demo


def test_demo_runs_and_every_step_holds() -> None:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert demo.main() == 0
    text = out.getvalue()
    assert "did you mean 'intel-vf'?" in text
    assert "property slot (20) is greater than the maximum allowable value (1F)" in text
    assert "CUSTOM_WITH_ETH" in text
    assert "every step behaved as expected" in text
