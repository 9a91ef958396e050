"""Calls as values (harness.calls): what a call runs is what it shows."""

import contextlib

from harness import calls


def test_a_call_runs_its_steps_inside_its_scope_and_leaves_it_after():
    entered = []

    @contextlib.contextmanager
    def place(where):
        entered.append(where)
        yield
        entered.append("left")

    modules = {"ctx": type("Module", (), {"place": staticmethod(place)}),
               "note": lambda value: entered.append(("ran", value)) or value}
    planned = calls.Call((), (), (calls.Step("y", calls.call("note", calls.Var("x"))),), (), 0,
                         scope=calls.call("ctx.place", "gpu"))
    assert planned.run({"x": 3}, modules)["y"] == 3
    assert entered == ["gpu", ("ran", 3), "left"]
    shown = planned.rendered()
    assert shown.code == "with ctx.place('gpu'):\n    y = note(x)" and shown.standalone() == shown.code
