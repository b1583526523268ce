# Every example configuration in the repository loads and starts its plugins as written
# (`--mode validate` from the repository root, where their relative plugin paths point).
import glob
import os
import subprocess
import tempfile

from harness import *
from wasm_helpers import plugin


@test(timeout=180)
def every_example_configuration_validates():
    plugin("add_header")  # the examples' plugins are built (fails clearly otherwise)
    b = os.path.dirname(os.path.abspath(sluice_bin()))
    plugins = os.path.join(b if os.path.isdir(os.path.join(b, "plugins")) else
                           os.path.dirname(b), "plugins")
    files = sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml")) +
                   glob.glob(os.path.join(ROOT, "examples", "plugins", "*.yaml")))
    check(len(files) >= 10, "found only %d example configurations" % len(files))
    bad = []
    tmp = tempfile.mkdtemp(prefix="sluice-examples-")
    for f in files:
        # Relative paths in a configuration are relative to the working directory (as in
        # Envoy): run from the repository root, with the plugins of the build under test.
        text = open(f).read().replace("build/plugins/", plugins + "/")
        path = os.path.join(tmp, os.path.basename(os.path.dirname(f)) + "-" +
                            os.path.basename(f))
        with open(path, "w") as out:
            out.write(text)
        p = subprocess.run([sluice_bin(), "--mode", "validate", "-c", path], cwd=ROOT,
                           capture_output=True, text=True, timeout=60 * timeout_scale())
        os.unlink(path)
        if p.returncode != 0 or "OK" not in p.stdout:
            bad.append((os.path.relpath(f, ROOT), p.returncode, p.stderr[-400:]))
    os.rmdir(tmp)
    check_eq(bad, [])


if __name__ == "__main__":
    run()
