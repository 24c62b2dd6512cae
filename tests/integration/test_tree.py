"""The source tree keeps its shape: the layering check (includes, circles in a folder or across
folders, file and function sizes) passes on it and catches each kind of break on a tree made to
have one."""
import os
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK = os.path.join(ROOT, ".ci", "layering")


def run(root):
    return subprocess.run(["python3", CHECK, root], capture_output=True, text=True, timeout=60)


def test_tree_is_layered():
    r = run(ROOT)
    assert r.returncode == 0, r.stdout


def write(root, path, text):
    p = os.path.join(root, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)


def test_each_break_is_reported(tmp_path):
    root = str(tmp_path)
    write(root, "common/log.h", '#include "lb/conn.h"\n')           # upward
    write(root, "lb/conn-t.h", '#include "lb/worker.h"\n')           # types header, not -t.h
    write(root, "lb/conn.h", '#include "lb/worker.h"\n')
    write(root, "lb/worker.h", '#include "lb/conn.h"\n')             # circle
    write(root, "lb/worker.c", '#include "worker.h"\n#include "lb/gone.h"\n')  # style, missing
    write(root, "lb/forward.c", "int f(void)\n{\n" + "    x();\n" * 81 + "}\n")  # long function
    write(root, "lb/balance.c", "int x;\n" * 601)                               # long file
    r = run(root)
    assert r.returncode == 1
    out = r.stdout
    assert "common/log.h:1: common/ includes lb/conn.h, a layer above it" in out
    assert "lb/conn-t.h:1: types header includes lb/worker.h" in out
    assert "include cycle: lb/conn <-> lb/worker" in out
    assert 'lb/worker.c:1: include "worker.h" is not "folder/file.h"' in out
    assert 'lb/worker.c:2: include "lb/gone.h"' in out
    assert "lb/forward.c:1: a function of 81 lines (at most 80)" in out
    assert "lb/balance.c: 601 lines (at most 600)" in out
    assert "layering: 7 problem(s)" in out
