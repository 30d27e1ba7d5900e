"""Tests for the shell helpers: utils/parse_options.sh, utils/log.sh, path.sh, utils/run_tests.sh."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARSE_OPTIONS = ROOT / "utils" / "parse_options.sh"
LOG_SH = ROOT / "utils" / "log.sh"
RUN_STAGE = ROOT / "utils" / "run_stage.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run_script(tmp_path: Path, body: str, *args: str, name: str = "script.sh") -> subprocess.CompletedProcess:
    """Write `body` as a strict-mode bash script in tmp_path and run it with `args`."""
    script = tmp_path / name
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + body)
    return subprocess.run(
        ["bash", str(script), *args], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )


OPTS = f"""\
stage=0
num_jobs=4
use_gpu=false
name="two words"
help_message="Usage: script.sh [options] <in> <out>"
. {PARSE_OPTIONS}
printf 'stage=%s\\n' "$stage"
printf 'num_jobs=%s\\n' "$num_jobs"
printf 'use_gpu=%s\\n' "$use_gpu"
printf 'name=%s\\n' "$name"
printf 'nargs=%s\\n' "$#"
for a in "$@"; do printf 'arg=%s\\n' "$a"; done
"""


def parsed(proc: subprocess.CompletedProcess) -> dict[str, str | list[str]]:
    assert proc.returncode == 0, proc.stderr
    out: dict[str, str | list[str]] = {"args": []}
    for line in proc.stdout.splitlines():
        key, value = line.split("=", 1)
        if key == "arg":
            out["args"].append(value)  # type: ignore[union-attr]
        else:
            out[key] = value
    return out


def test_defaults_kept_without_options(tmp_path: Path) -> None:
    out = parsed(run_script(tmp_path, OPTS))
    assert out["stage"] == "0" and out["num_jobs"] == "4" and out["name"] == "two words"
    assert out["nargs"] == "0"


def test_declared_option_is_set(tmp_path: Path) -> None:
    out = parsed(run_script(tmp_path, OPTS, "--stage", "3"))
    assert out["stage"] == "3"


def test_equals_form(tmp_path: Path) -> None:
    out = parsed(run_script(tmp_path, OPTS, "--stage=5", "--name=a=b c", "--use-gpu="))
    assert out["stage"] == "5"
    assert out["name"] == "a=b c"
    assert out["use_gpu"] == ""


def test_dashes_become_underscores(tmp_path: Path) -> None:
    out = parsed(run_script(tmp_path, OPTS, "--num-jobs", "8", "--use_gpu", "true"))
    assert out["num_jobs"] == "8"
    assert out["use_gpu"] == "true"


def test_values_are_taken_literally(tmp_path: Path) -> None:
    out = parsed(run_script(tmp_path, OPTS, "--name", "-1 $HOME *", "--stage", ""))
    assert out["name"] == "-1 $HOME *"
    assert out["stage"] == ""


def test_unknown_option_fails(tmp_path: Path) -> None:
    for args in (["--xyz", "1"], ["--xyz=1"]):
        proc = run_script(tmp_path, OPTS, "--stage", "1", *args)
        assert proc.returncode == 1
        assert "unknown option --xyz" in proc.stderr
        assert proc.stdout == ""


def test_option_without_value_fails(tmp_path: Path) -> None:
    proc = run_script(tmp_path, OPTS, "--stage")
    assert proc.returncode == 1
    assert "--stage needs a value" in proc.stderr


def test_positional_args_preserved(tmp_path: Path) -> None:
    out = parsed(run_script(tmp_path, OPTS, "--stage", "2", "data/train", "exp dir", "--not-an-option"))
    assert out["stage"] == "2"
    assert out["nargs"] == "3"
    assert out["args"] == ["data/train", "exp dir", "--not-an-option"]


def test_double_dash_ends_options(tmp_path: Path) -> None:
    out = parsed(run_script(tmp_path, OPTS, "--num-jobs", "1", "--", "--stage", "x"))
    assert out["num_jobs"] == "1" and out["stage"] == "0"
    assert out["args"] == ["--stage", "x"]


def test_help_lists_options_with_defaults(tmp_path: Path) -> None:
    for flag in ("--help", "-h"):
        proc = run_script(tmp_path, OPTS, "--num-jobs", "2", flag, "ignored")
        assert proc.returncode == 0, proc.stderr
        assert "Usage: script.sh [options] <in> <out>" in proc.stdout
        lines = proc.stdout.splitlines()
        assert re.search(r"^\s+--stage\s+\[0\]$", proc.stdout, re.M), proc.stdout
        assert re.search(r"^\s+--num-jobs\s+\[2\]$", proc.stdout, re.M), proc.stdout
        assert re.search(r"^\s+--use-gpu\s+\[false\]$", proc.stdout, re.M), proc.stdout
        assert re.search(r"^\s+--name\s+\[two words\]$", proc.stdout, re.M), proc.stdout
        assert not any("help-message" in line for line in lines)
        assert "stage=" not in proc.stdout  # the script body did not run


def test_help_without_help_message(tmp_path: Path) -> None:
    proc = run_script(tmp_path, f"nj=1\n. {PARSE_OPTIONS}\necho ran\n", "--help", name="bare.sh")
    assert proc.returncode == 0
    assert "Usage: bare.sh" in proc.stdout
    assert re.search(r"^\s+--nj\s+\[1\]$", proc.stdout, re.M)
    assert "ran" not in proc.stdout


def test_log_format(tmp_path: Path) -> None:
    body = f". {LOG_SH}\nlog 'hello' \"wide world\"\nf() {{ log in function; }}\nf\n"
    proc = run_script(tmp_path, body, name="myscript.sh")
    assert proc.returncode == 0
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    stamp = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
    assert re.fullmatch(stamp + r" \(myscript\.sh:4\) hello wide world", lines[0]), lines
    assert re.fullmatch(stamp + r" \(myscript\.sh:5\) in function", lines[1]), lines


# A stage whose command records its arguments, and fails when told to.
STAGE = f"""\
. {LOG_SH}
. {RUN_STAGE}
stage=${{STAGE:-0}} stop_stage=${{STOP_STAGE:-9}}
work() {{ echo "ran $*" >> calls; [ -z "${{FAIL:-}}" ]; }}
run_stage 3 data "make features" -- work --out "two words"
"""


def run_stage_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    script = tmp_path / "stages.sh"
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + STAGE)
    return subprocess.run(["bash", str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={**os.environ, **env})


def calls(tmp_path: Path) -> list[str]:
    path = tmp_path / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_run_stage_marker_is_the_one_record(tmp_path: Path) -> None:
    done = tmp_path / "data" / ".done"
    first = run_stage_script(tmp_path)
    assert first.returncode == 0, first.stderr
    assert calls(tmp_path) == ["ran --out two words"]  # afresh: no --resume
    assert (done / "stage3").exists() and not (done / "stage3.started").exists()
    assert "Stage 3: make features" in first.stderr
    again = run_stage_script(tmp_path)
    assert again.returncode == 0 and "done before" in again.stderr
    assert calls(tmp_path) == ["ran --out two words"]  # the marker skips it
    (done / "stage3").unlink()  # deleting the marker redoes the stage, afresh
    assert run_stage_script(tmp_path).returncode == 0
    assert calls(tmp_path) == ["ran --out two words"] * 2


def test_run_stage_resumes_only_an_unfinished_run(tmp_path: Path) -> None:
    done = tmp_path / "data" / ".done"
    failed = run_stage_script(tmp_path, FAIL="1")
    assert failed.returncode != 0
    assert (done / "stage3.started").exists() and not (done / "stage3").exists()
    resumed = run_stage_script(tmp_path)
    assert resumed.returncode == 0 and "resuming its unfinished run" in resumed.stderr
    assert calls(tmp_path) == ["ran --out two words", "ran --out two words --resume"]
    assert (done / "stage3").exists() and not (done / "stage3.started").exists()


def test_run_stage_outside_the_range_does_nothing(tmp_path: Path) -> None:
    for env in ({"STAGE": "4"}, {"STOP_STAGE": "2"}):
        proc = run_stage_script(tmp_path, **env)
        assert proc.returncode == 0 and proc.stderr == ""
    assert calls(tmp_path) == [] and not (tmp_path / "data").exists()


def make_fake_repo(tmp_path: Path) -> Path:
    """A repo with the real path.sh, a stub setup_env.sh and a complete-looking .venv."""
    repo = tmp_path / "repo"
    (repo / "utils").mkdir(parents=True)
    shutil.copy(ROOT / "path.sh", repo / "path.sh")
    (repo / "pyproject.toml").write_text("# setup\n")
    setup = repo / "utils" / "setup_env.sh"
    setup.write_text(
        "#!/usr/bin/env bash\necho SETUP_RAN >&2\n"
        "root=$(cd \"$(dirname \"$0\")/..\" && pwd)\n"
        "mkdir -p $root/.venv/bin\n"
        "for p in python lmplz build_binary; do printf '#!/bin/sh\\n' > $root/.venv/bin/$p; "
        "chmod +x $root/.venv/bin/$p; done\n"
        "sha256sum < $root/pyproject.toml | cut -d' ' -f1 > $root/.venv/.asrt-setup.sha256\n"
    )
    return repo


SOURCE_PATH = 'set -euo pipefail; . "$1"; echo "$ASRT_ROOT"; echo "$PATH"; echo "$PYTHONUNBUFFERED $LC_ALL"'


def source_path_sh(path_sh: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ASRT_ROOT", "VIRTUAL_ENV")}
    return subprocess.run(
        ["bash", "-c", SOURCE_PATH, "test", str(path_sh)],
        capture_output=True, text=True, timeout=30, env=env, cwd=path_sh.parent,
    )


def test_path_sh_sets_up_once_then_activates(tmp_path: Path) -> None:
    repo = make_fake_repo(tmp_path)
    first = source_path_sh(repo / "path.sh")
    assert first.returncode == 0, first.stderr
    assert "SETUP_RAN" in first.stderr
    root, path, env = first.stdout.splitlines()
    assert root == str(repo)
    assert path.split(":")[0] == str(repo / ".venv" / "bin")
    assert env == "1 C.UTF-8"

    second = source_path_sh(repo / "path.sh")
    assert second.returncode == 0 and "SETUP_RAN" not in second.stderr

    (repo / "pyproject.toml").write_text("# setup, changed\n")
    third = source_path_sh(repo / "path.sh")
    assert third.returncode == 0 and "SETUP_RAN" in third.stderr


def test_path_sh_through_symlink_finds_repo_root(tmp_path: Path) -> None:
    repo = make_fake_repo(tmp_path)
    recipe = repo / "egs" / "corpus"
    recipe.mkdir(parents=True)
    (recipe / "path.sh").symlink_to("../../path.sh")
    proc = source_path_sh(recipe / "path.sh")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == str(repo)


def test_path_sh_failed_setup_stops_strict_script(tmp_path: Path) -> None:
    repo = make_fake_repo(tmp_path)
    (repo / "utils" / "setup_env.sh").write_text("exit 1\n")
    proc = source_path_sh(repo / "path.sh")
    assert proc.returncode != 0
    assert "path.sh: setting up the asrt environment failed" in proc.stderr
    assert proc.stdout == ""


def make_run_tests_repo(tmp_path: Path, pytest_status: int) -> Path:
    """A repo with the real run_tests.sh whose path.sh makes `python` a stub."""
    repo = tmp_path / "repo"
    (repo / "utils").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "tests" / "test_one.py").write_text("")
    shutil.copy(ROOT / "utils" / "run_tests.sh", repo / "utils" / "run_tests.sh")
    (repo / "path.sh").write_text(f'python() {{ echo "python $*"; return {pytest_status}; }}\n')
    return repo


@pytest.mark.parametrize("status", [0, 1, 5])
def test_run_tests_propagates_status(tmp_path: Path, status: int) -> None:
    repo = make_run_tests_repo(tmp_path, status)
    proc = subprocess.run(
        ["bash", str(repo / "utils" / "run_tests.sh"), "-k", "x"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )
    assert proc.returncode == status
    assert proc.stdout.strip() == "python -m pytest -q tests -k x"
    assert ("no tests" in proc.stderr) == (status == 5)


def test_run_tests_path_argument_replaces_default(tmp_path: Path) -> None:
    repo = make_run_tests_repo(tmp_path, 0)
    proc = subprocess.run(
        ["bash", str(repo / "utils" / "run_tests.sh"), "tests/test_one.py::test_a"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "python -m pytest -q tests/test_one.py::test_a"


@pytest.mark.parametrize(
    "script", ["path.sh", "utils/parse_options.sh", "utils/log.sh", "utils/setup_env.sh",
               "utils/run_tests.sh", "utils/run_stage.sh", ".ci/run", "run.sh", "local/compare.sh",
               "local/show_results.sh"]
)
def test_scripts_are_valid_bash(script: str) -> None:
    proc = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_setup_stamp_matches_path_sh_check() -> None:
    """path.sh and setup_env.sh must agree on where the pyproject.toml hash is kept."""
    setup_env = (ROOT / "utils" / "setup_env.sh").read_text()
    path_sh = (ROOT / "path.sh").read_text()
    assert ".asrt-setup.sha256" in setup_env and ".asrt-setup.sha256" in path_sh
