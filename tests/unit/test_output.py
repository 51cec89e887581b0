"""cli.output: JSON is indented for people and one line for pipes, and can be forced either way."""

from __future__ import annotations

import io
import json

import pytest

from pcipass.cli import output


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_is_indented_on_a_terminal_and_one_line_in_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PCIPASS_JSON_INDENT", raising=False)
    doc = {"schema": "pcipass-scan/1", "hosts": [{"name": "h", "devices": []}]}
    tty, pipe = _Tty(), io.StringIO()
    output.emit(doc, "json", lambda d, c: None, file=tty)
    output.emit(doc, "json", lambda d, c: None, file=pipe)
    assert tty.getvalue().count("\n") > 3 and tty.getvalue().startswith('{\n  "schema"')
    assert pipe.getvalue().count("\n") == 1
    assert json.loads(tty.getvalue()) == json.loads(pipe.getvalue()) == doc


@pytest.mark.parametrize(("value", "tty", "expected"), [
    ("2", False, 2), ("4", True, 4), ("0", True, None), ("", True, 2), ("x", False, None),
])
def test_pcipass_json_indent_overrides_the_terminal_rule(monkeypatch: pytest.MonkeyPatch, value: str,
                                                          tty: bool, expected: int | None) -> None:
    monkeypatch.setenv("PCIPASS_JSON_INDENT", value)
    assert output.json_indent(_Tty() if tty else io.StringIO()) == expected


def test_the_scan_fast_path_follows_the_same_rule(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from pcipass.cli import commands_scan

    monkeypatch.setenv("PCIPASS_JSON_INDENT", "3")
    commands_scan._emit({"schema": "pcipass-scan/1", "hosts": []}, "json", False)
    assert capsys.readouterr().out == '{\n   "schema": "pcipass-scan/1",\n   "hosts": []\n}\n'
