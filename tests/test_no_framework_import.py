import subprocess
import sys


def test_import_harness_imports_no_framework():
    code = (
        "import sys, harness, harness.cli\n"
        "harness.available_backends()\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'jax', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
