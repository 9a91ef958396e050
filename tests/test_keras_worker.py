"""The Keras worker (harness.frameworks.keras.worker): a worker that dies in a case
is that case's error and the next case runs in a new one, a restart registers
nothing at exit, the worker ends with the process that started it, it runs
under its own Keras backend whatever the main module imported, and it computes
while the harness goes on (check sends the call before computing the reference)."""

from __future__ import annotations

import atexit
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from harness import ConvSpec, check
from harness.backends import get_backend
from harness.threads import THREAD_VARIABLES, cores
from helpers import SLOW

pytestmark = pytest.mark.needs("keras.torch")

SPEC = ConvSpec(layout="NWC", in_channels=2, out_channels=3, spatial=6, kernel=3)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def test_a_worker_that_dies_in_a_case_is_its_error_and_the_next_case_runs_in_a_new_one(monkeypatch):
    adapter = get_backend("keras.torch")
    before = adapter.worker().call(os.getpid)
    callbacks = atexit._ncallbacks()
    monkeypatch.setattr(adapter, "start", lambda *call: adapter.worker().submit(signal.raise_signal, signal.SIGKILL))
    died = check(SPEC, backends=["keras.torch"]).outcomes[0]
    assert (died.status, died.message) == ("error", "RuntimeError: the Keras worker process ended (exit status -9)")
    monkeypatch.undo()
    assert check(SPEC, backends=["keras.torch"]).ok
    assert adapter.worker().call(os.getpid) != before
    assert atexit._ncallbacks() == callbacks  # one clean shutdown, not one more per restart


def test_a_worker_killed_while_idle_is_replaced_on_the_next_case():
    adapter = get_backend("keras.torch")
    pid = adapter.worker().call(os.getpid)
    os.kill(pid, signal.SIGKILL)
    while not _gone(pid):
        time.sleep(0.05)
    assert check(SPEC, backends=["keras.torch"]).ok
    assert adapter.worker().call(os.getpid) != pid


def _wait_for(path: str) -> str:
    """In the worker: wait (20 s at most) until ``path`` exists."""
    deadline = time.monotonic() + 20
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return "the file never came: the caller waited for the call"
        time.sleep(0.01)
    return "went on"


def test_a_call_sent_to_the_worker_runs_while_the_caller_goes_on(tmp_path):
    worker = get_backend("keras.torch").worker()
    flag = tmp_path / "go"
    finish = worker.submit(_wait_for, str(flag))  # the call waits for the caller's next step
    flag.write_text("")
    assert finish() == "went on"


def test_a_call_queued_in_a_pool_that_stops_runs_in_a_new_worker_instead_of_waiting_forever():
    worker = get_backend("keras.torch").worker()
    before = worker.call(os.getpid)
    worker.submit(time.sleep, 2)  # running, or about to, when the pool stops
    queued = worker.submit(os.getpid)
    worker.pool.stop()  # pebble leaves a call that was still queued pending for ever
    got = []
    waiting = threading.Thread(target=lambda: got.append(queued()), daemon=True)
    waiting.start()
    waiting.join(timeout=300)
    assert got and got[0] != before


def test_check_sends_the_call_to_the_worker_before_it_computes_the_reference(monkeypatch):
    adapter, done = get_backend("keras.torch"), []
    checking = importlib.import_module("harness.check")  # the module, not the function harness.check
    start, reference = adapter.start, checking.reference_and_magnitudes
    monkeypatch.setattr(adapter, "start", lambda *call: done.append("sent") or start(*call))
    monkeypatch.setattr(checking, "reference_and_magnitudes", lambda *case: done.append("reference") or reference(*case))
    assert check(SPEC, backends=["keras.torch"]).ok
    assert done == ["sent", "reference"]


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie not yet reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _script(tmp_path, body: str, env: dict = ENV) -> subprocess.CompletedProcess:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)


@SLOW
def test_the_worker_ends_with_the_process_that_started_it(tmp_path):
    run = _script(tmp_path, """
        import os
        from harness import ConvSpec, check
        from harness.backends import get_backend
        if __name__ == "__main__":
            spec = ConvSpec(layout="NWC", in_channels=2, out_channels=3, spatial=6, kernel=3)
            assert check(spec, backends=["keras.torch"]).ok
            print(get_backend("keras.torch").worker().call(os.getpid))
    """)
    assert run.returncode == 0 and run.stderr == "", run.stderr[-2000:]
    pid = int(run.stdout.split()[-1])
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid)


@SLOW
@pytest.mark.needs("keras.tensorflow")  # the main module imports Keras on TensorFlow
def test_the_worker_runs_its_own_keras_backend_whatever_the_main_module_imported(tmp_path):
    run = _script(tmp_path, """
        import os
        os.environ["KERAS_BACKEND"] = "tensorflow"
        import keras
        from harness.backends import get_backend
        if __name__ == "__main__":
            worker = get_backend("keras.torch").worker()
            print(keras.backend.backend(), worker.call(eval, "__import__('keras').backend.backend()"))
    """)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-2:] == ["tensorflow", "torch"]


@SLOW
def test_a_script_without_the_main_guard_gets_its_result(tmp_path):
    """The worker imports the main module again (spawn does), where the script's check
    cannot start a worker of its own; the script's check, in the main module, passes."""
    run = _script(tmp_path, """
        from harness import ConvSpec, check
        spec = ConvSpec(layout="NWC", in_channels=2, out_channels=3, spatial=6, kernel=3)
        print(__name__, check(spec, backends=["keras.torch"]).outcomes[0].status)
    """)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "__main__ pass" in run.stdout.splitlines(), run.stdout


@SLOW
def test_the_worker_takes_half_the_cores_unless_the_user_set_the_thread_counts(tmp_path):
    """The worker computes while the process it serves does: each takes half the cores,
    as two sweep workers do (harness.threads.share_cores)."""
    script = """
        from harness.backends import get_backend
        from harness.threads import cores
        if __name__ == "__main__":
            print(cores(), get_backend("keras.torch").worker().call(eval, "__import__('torch').get_num_threads()"))
    """
    unset = {name: value for name, value in ENV.items() if name not in THREAD_VARIABLES}
    here = cores()
    for env, expected in ((unset, max(1, here // 2)), ({**unset, "OMP_NUM_THREADS": str(here)}, here)):
        run = _script(tmp_path, script, env)
        assert run.returncode == 0, run.stderr[-2000:]
        assert tuple(map(int, run.stdout.split()[-2:])) == (here, expected)
