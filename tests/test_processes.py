"""The harness's own guarantee: what a project copy started is found by its folder and killed."""

import subprocess
import sys

from fkguard_testing import processes


def test_a_process_left_in_a_project_folder_is_found_killed_and_reported(tmp_path):
    (tmp_path / "inner").mkdir()
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path / "inner",
                             start_new_session=True)
    try:
        assert list(processes.running_in(tmp_path)) == [stray.pid]
        left = processes.reap(tmp_path, grace=0.5)
        assert list(left) == [stray.pid] and "time.sleep(60)" in left[stray.pid]
        assert stray.wait(5) == -9
        assert processes.running_in(tmp_path) == {}
    finally:
        stray.kill()


def test_a_process_that_ends_within_the_grace_is_not_reported(tmp_path):
    quick = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"], cwd=tmp_path)
    assert processes.reap(tmp_path, grace=10) == {}  # ended (a zombie until waited for), so not killed
    quick.wait(5)
    assert quick.returncode == 0
