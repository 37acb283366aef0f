import subprocess
import sys
from pathlib import Path

CHILD_STARTER = """
import subprocess, time
from coedit.local.processes import die_with_parent
child = subprocess.Popen(["sleep", "300"], preexec_fn=die_with_parent, start_new_session=True)
print(child.pid, flush=True)
time.sleep(300)
"""


def running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie is dead, waiting to be reaped


def test_children_die_with_the_process_that_started_them():
    parent = subprocess.Popen([sys.executable, "-c", CHILD_STARTER], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert running(child)
    parent.kill()
    parent.wait()
    for _ in range(100):
        if not running(child):
            break
        __import__("time").sleep(0.05)
    assert not running(child)
