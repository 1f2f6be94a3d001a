"""A grid as scheduler jobs (harness/cluster/): the job graph of a table, SENA's Table 1 at paper scale submitted
to a stand-in `sbatch` (scripts, resources, dependencies, a resubmission that skips what finished or is still
queued), bad input (no sbatch, an unknown partition, a refused or failed job), and (slow) a 2-row grid run by
submitit's local executor: dependency order, a job killed mid-stage resumed, the table equal to the sequential
run's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.cluster.grids import reproduce_jobs, reproduce_on
from harness.cluster.resources import ClusterOptions, read_profile, resources_for
from harness.errors import HarnessError
from harness.reproduce import ReproduceOptions
from harness.reproduce.grid import GridRow, Reproduction
from tests import slurm_fakes

pytest.importorskip("submitit")

TWO_ROWS = Reproduction(
    name="two-rows",
    title="θ0 and θ1^CA of SENA on the tiny model",
    source="tests/test_cluster.py",
    rows=(GridRow("θ0", "sena", "base", iteration=0), GridRow("θ1^CA", "sena", "ca", iteration=1)),
    columns=(),
    reported_table="none",
)


def _two_rows(out: Path) -> ReproduceOptions:
    return ReproduceOptions(
        table="two-rows",
        images_per_iter=4,
        out=out,
        progress=False,
        overrides=["max_new_tokens=24", "sq_max_new_tokens=32"],
        eval_options={"bench_options": {"scenes": 3}},
    )


def test_a_two_row_grid_is_theta0_then_the_donor_then_the_row_sharing_its_pairs(tmp_path):
    jobs, out, _ = reproduce_jobs(_two_rows(tmp_path / "g"), rep=TWO_ROWS)
    assert [(j.key, j.deps) for j in jobs] == [
        ("sena-base/theta0", ()),
        ("sena-base/train-1", ("sena-base/theta0",)),
        ("sena-base/eval-1-shapes", ("sena-base/train-1",)),
        ("sena-ca/train-1", ("sena-base/theta0", "sena-base/train-1")),  # θ1^CA copies θ1^Base's pairs
        ("sena-ca/eval-1-shapes", ("sena-ca/train-1",)),
        ("table", ("sena-base/eval-1-shapes", "sena-ca/eval-1-shapes")),
    ]
    assert {j.run_dir for j in jobs if j.run_dir} == {out / "sena-base", out / "sena-ca"}  # reproduce's folders
    sharded, _, _ = reproduce_jobs(_two_rows(tmp_path / "g"), shards=2, rep=TWO_ROWS)
    deps = {j.key: j.deps for j in sharded}
    assert deps["sena-base/synth-1-1of2"] == deps["sena-base/synth-1-2of2"] == ("sena-base/theta0",)
    assert deps["sena-base/train-1"] == ("sena-base/synth-1-1of2", "sena-base/synth-1-2of2")
    assert not any(k.startswith("sena-ca/synth") for k in deps)  # a row that copies θ1's pairs makes none


def _paper_scale(tmp_path: Path, monkeypatch, **cluster) -> tuple[ReproduceOptions, ClusterOptions, Path]:
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm"
    slurm_fakes.install(bin_dir, state)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    model = tmp_path / "llava-1.5-7b-hf"  # a checkpoint folder: the table's own benchmarks, not the tiny model's
    model.mkdir()
    opts = ReproduceOptions(table="sena-table1", model=str(model), out=tmp_path / "t1", progress=False)
    defaults = {"partition": "gpu", "account": "proj", "gpus": 8, "nodes": 2, "time": "2-00:00:00"}
    return opts, ClusterOptions(executor="slurm", resume_command="RESUME", **{**defaults, **cluster}), state


def test_sena_table1_at_paper_scale_through_a_stand_in_sbatch(tmp_path, monkeypatch):
    opts, cluster, state = _paper_scale(tmp_path, monkeypatch)
    sub = reproduce_on(opts, cluster)
    jobs = slurm_fakes.submitted(state)
    benches = ["llava_wild", "mmvet", "mmhal", "amber", "mmbench"]
    runs = {"sena": 3, "sena-base": 1, "sena-sq": 1, "sena-se": 1, "sena-ca": 1}
    expected = {"sena/theta0", "table"} | {f"{r}/train-{i}" for r, n in runs.items() for i in range(1, n + 1)}
    expected |= {f"{r}/eval-{i}-{b}" for r, n in runs.items() for i in range(1, n + 1) for b in benches}
    assert set(jobs) == expected == set(sub.submitted) and len(jobs) == 44
    ids = {name: job["id"] for name, job in jobs.items()}
    after = {name: {next(n for n, i in ids.items() if i == d) for d in job["after"]} for name, job in jobs.items()}
    assert after["sena/theta0"] == set()  # θ0's evaluation first
    assert all(after[f"{r}/train-1"] >= {"sena/theta0"} for r in runs)
    assert after["sena-ca/train-1"] == {"sena/theta0", "sena-base/train-1"}  # after the donor of its θ1 pairs
    assert after["sena/train-3"] == {"sena/train-2"} and after["sena/eval-2-mmhal"] == {"sena/train-2"}
    assert after["table"] == {n for n in expected if "/eval-" in n}
    train, evaluation = jobs["sena/train-2"], jobs["sena-sq/eval-1-amber"]
    for job in (train, evaluation):
        f = job["flags"]
        assert f["partition"] == "gpu" and f["account"] == "proj" and f["gpus-per-node"] == "8"
        assert f["time"] == str(2 * 24 * 60) and f["kill-on-invalid-dep"] == "yes" and f["ntasks-per-node"] == "1"
    assert train["flags"]["nodes"] == "2" and evaluation["flags"]["nodes"] == "1"
    assert "\nsrun " not in train["text"]  # a 2-node job runs evolve once, on its first node
    assert train["flags"]["signal"] == "B:USR2@90" and evaluation["flags"]["signal"] == "USR2@90"  # requeue on a limit
    assert "\nsrun " in evaluation["text"] and "-m submitit.core._submit" in train["text"]
    assert "gpus-per-node" not in jobs["table"]["flags"]  # the table needs no GPU
    recorded = json.loads((opts.out / "cluster" / "jobs.json").read_text())
    assert recorded["resume"] == "RESUME" and recorded["jobs"]["sena/train-2"]["job_id"] == ids["sena/train-2"]
    assert recorded["jobs"]["sena/train-2"]["stdout"].endswith(f"{ids['sena/train-2']}_0_log.out")

    # resubmitted: θ0's evaluation finished (its stage markers), sena/train-1 still running: neither submitted
    # again, and what waits for them waits for the running job
    stages = opts.out / "sena" / "stages"
    stages.mkdir(parents=True)
    (opts.out / "sena" / "manifest.json").write_text("{}")
    for b in benches:
        (stages / f"eval-0-{b}.done").write_text("{}")
    (state / "queue").write_text(f"{ids['sena/train-1']}|RUNNING\n")
    for path in state.glob("job-*.sh"):
        path.unlink()
    again = reproduce_on(opts, cluster)
    assert "sena/theta0" in again.done and again.still_queued == {"sena/train-1": ids["sena/train-1"]}
    jobs2 = slurm_fakes.submitted(state)
    assert "sena/theta0" not in jobs2 and "sena/train-1" not in jobs2 and len(jobs2) == 42
    assert jobs2["sena/eval-1-amber"]["after"] == [ids["sena/train-1"]]
    assert jobs2["sena-base/train-1"]["after"] == []  # θ0 is done: nothing to wait for


def test_no_sbatch_on_path_submits_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "t1"
    result = CliRunner().invoke(app, ["reproduce", "sena-table1", "--executor", "slurm", "--out", str(out)])
    assert result.exit_code == 2
    assert "--executor slurm: `sbatch` is not on PATH" in result.output and "--executor local" in result.output
    assert not out.exists()


def test_an_unknown_partition_is_named_with_the_known_ones(tmp_path, monkeypatch):
    opts, cluster, state = _paper_scale(tmp_path, monkeypatch, partition="gpux")
    with pytest.raises(HarnessError, match=r"--partition gpux: no such partition .*sinfo lists: cpu, gpu"):
        reproduce_on(opts, cluster)
    assert not list(state.glob("job-*.sh"))
    profile = tmp_path / "cluster.toml"
    profile.write_text('partition = "gpu"\n[table]\npartition = "cpux"\ngpus = 0\n')
    _, cluster, _ = _paper_scale(tmp_path / "p", monkeypatch, partition=None)
    cluster.profile = profile
    with pytest.raises(HarnessError, match=r"cluster.toml: table.partition cpux: no such partition"):
        reproduce_on(opts, cluster)


def test_a_job_sbatch_refuses_is_named_with_the_command_that_resumes(tmp_path, monkeypatch):
    opts, cluster, state = _paper_scale(tmp_path, monkeypatch)
    (state / "refuse").write_text("sena/eval-1-mmvet\n")
    with pytest.raises(HarnessError) as err:
        reproduce_on(opts, cluster)
    text = str(err.value)
    assert "sbatch refused job sena/eval-1-mmvet (θ1 on mmvet)" in text and "Invalid partition name" in text
    assert "resume with: RESUME" in text and "3 job(s) were submitted before it" in text
    assert set(json.loads((opts.out / "cluster" / "jobs.json").read_text())["jobs"]) == {
        "sena/theta0",
        "sena/train-1",
        "sena/eval-1-llava_wild",
    }


def test_status_names_a_failed_job_its_error_log_and_the_resume_command(tmp_path, monkeypatch):
    opts, cluster, state = _paper_scale(tmp_path, monkeypatch)
    reproduce_on(opts, cluster)
    ids = {n: j["id"] for n, j in slurm_fakes.submitted(state).items()}
    (state / "queue").write_text(f"{ids['sena-sq/train-1']}|PENDING\n")
    (state / "sacct").write_text(f"{ids['sena/train-1']}|FAILED\n{ids['sena-base/train-1']}|TIMEOUT\n")
    slot = opts.out / "cluster" / "state"
    slot.mkdir(parents=True)
    (slot / "sena__train-1.json").write_text(
        json.dumps({"state": "failed", "job_id": ids["sena/train-1"], "error": "RuntimeError: CUDA out of memory"})
    )
    (slot / "sena__theta0.json").write_text(json.dumps({"state": "finished", "job_id": ids["sena/theta0"]}))
    result = CliRunner().invoke(app, ["status", str(opts.out)], terminal_width=300)
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 4}
    assert "finished" in lines["sena/theta0"] and "pending" in lines["sena-sq/train-1"]
    assert "failed" in lines["sena/train-1"] and "timeout" in lines["sena-base/train-1"]
    text = " ".join(result.output.split())
    log = f"{opts.out}/cluster/logs/{ids['sena/train-1']}_0_log.err"
    assert f"sena/train-1 failed: RuntimeError: CUDA out of memory; log {log}" in text
    assert "sena-base/train-1 timeout: no error written (see the log)" in text
    assert "resume (submits only what is not finished): RESUME" in text
    empty = CliRunner().invoke(app, ["status", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "no submitted grid here" in empty.output


def test_profile_sections_and_command_line_options(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text(
        'partition = "gpu"\ntime = "12:00:00"\ngpus = 8\nsetup = ["source venv/bin/activate"]\n'
        '[train]\nnodes = 4\ntime = "2-00:00:00"\n[eval]\ngpus = 1\n[table]\ngpus = 0\npartition = "cpu"\n'
    )
    res = resources_for(ClusterOptions(executor="slurm", profile=profile, account="proj"))
    assert (res["train"].nodes, res["train"].gpus, res["train"].time_min) == (4, 8, 2880)
    assert (res["eval"].nodes, res["eval"].gpus, res["eval"].time_min) == (1, 1, 720)
    assert (res["table"].partition, res["table"].gpus, res["table"].account) == ("cpu", 0, "proj")
    assert res["synth"].setup == ("source venv/bin/activate",)
    res = resources_for(ClusterOptions(executor="slurm", profile=profile, gpus=4, nodes=2, time="90"))
    assert (res["train"].nodes, res["train"].gpus, res["train"].time_min) == (2, 4, 90)
    assert res["table"].gpus == 0  # --gpus-per-node is for the GPU jobs
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\ngpu = 8\n")
    with pytest.raises(HarnessError, match=r"bad.toml: train.gpu: unknown key"):
        read_profile(bad)
    with pytest.raises(HarnessError, match=r"--time '1:2:3:4'"):
        resources_for(ClusterOptions(executor="slurm", time="1:2:3:4"))


@pytest.mark.slow
def test_two_row_grid_on_the_local_executor_resumes_a_killed_job_and_equals_the_sequential_run(
    tiny_path, tmp_path, monkeypatch
):
    """~5 min on 2 busy cores: 6 jobs (each a fresh process with the tiny model), then 5 of them again after a
    kill, then the sequential run."""
    from harness.cluster.status import job_states
    from harness.cluster.submit import JobFailed
    from harness.reproduce import reproduce

    out = tmp_path / "jobs"
    opts, cluster = _two_rows(out), ClusterOptions(executor="local", resume_command="RESUME")
    monkeypatch.setenv("HARNESS_KILL_AT", "synthesize-1")  # SIGKILL after θ1's pairs are journaled, before written
    with pytest.raises(JobFailed) as err:
        reproduce_on(opts, cluster, rep=TWO_ROWS)
    text = str(err.value)
    assert "job sena-base/train-1 (θ1: synthesis, reference pass, training) failed: killed" in text
    assert f"its log: {out / 'cluster' / 'logs'}" in text and "resume the grid with: RESUME" in text
    assert "Not started: sena-base/eval-1-shapes, sena-ca/train-1, sena-ca/eval-1-shapes, table" in text
    states = {r["job"]: r["state"] for r in job_states(out)}
    assert states == {"sena-base/theta0": "finished", "sena-base/train-1": "killed"}
    theta0 = out / "sena-base" / "iter0" / "eval" / "shapes" / "results.json"
    before = theta0.stat().st_mtime_ns
    assert (out / "sena-base" / "iter1" / "synthesize.journal.jsonl").is_file()

    monkeypatch.delenv("HARNESS_KILL_AT")
    sub = reproduce_on(opts, cluster, rep=TWO_ROWS)  # resubmitted: the same call
    assert sub.done == ["sena-base/theta0"] and theta0.stat().st_mtime_ns == before  # not rerun
    assert sub.order == [
        "sena-base/train-1",
        "sena-base/eval-1-shapes",
        "sena-ca/train-1",
        "sena-ca/eval-1-shapes",
        "table",
    ]
    stats = json.loads((out / "sena-base" / "iter1" / "stats.json").read_text())
    assert stats["chunks_resumed"] == stats["chunks"] and stats["requests_this_invocation"] == 0  # resumed
    recorded = json.loads((out / "cluster" / "jobs.json").read_text())["jobs"]
    own = {k: json.loads((out / "cluster" / "state" / f"{k.replace('/', '__')}.json").read_text()) for k in recorded}
    for key, entry in recorded.items():  # every job started after the jobs it needs had ended
        assert own[key]["state"] == "finished"
        assert all(own[key]["started"] >= own[dep]["ended"] for dep in entry["deps"]), key
    assert own["sena-base/train-1"]["attempts"] == 2

    monkeypatch.setattr("harness.reproduce.run.find_reproduction", lambda name, reg=None: (TWO_ROWS, None))
    sequential = reproduce(_two_rows(tmp_path / "sequential"))
    table = json.loads((out / "table.json").read_text())
    assert table["rows"] == sequential.to_dict()["rows"]
    assert all(isinstance(r["cells"]["shapes/Accuracy"]["ours"], float) for r in table["rows"])


def test_dry_runs_list_the_jobs_and_submit_nothing(tmp_path):
    out = tmp_path / "t3"
    result = CliRunner().invoke(
        app,
        ["reproduce", "sena-table3", "--executor", "local", "--dry-run", "--images-per-iter", "4", "--out", str(out)],
        terminal_width=300,
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "sena-ca_gen/train-1: θ1: synthesis, reference pass, training" in text
    assert "after sena-base/train-1" in text and "(nothing is submitted)" in text and not out.exists()
    runs = tmp_path / "runs"
    args = ["sweep", "--method", "sena", "--method", "seva", "--seed", "0", "--seed", "1", "--iters", "2"]
    result = CliRunner().invoke(app, [*args, "--runs-dir", str(runs), "--dry-run"], terminal_width=300)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "20 job(s) for --executor slurm" in text  # 4 runs × (θ0, θ1, θ2, and shapes on θ1 and on θ2)
    assert (
        "seva-tiny-s1/train-1: θ1: synthesis, reference pass, training [1×0 GPU, 1440 min] after seva-tiny-s1/theta0"
        in text
    )
    assert "seva-tiny-s1/train-2: θ2: synthesis, reference pass, training" in text and not runs.exists()
    bad = CliRunner().invoke(app, [*args, "--method", "nope", "--dry-run"])
    assert bad.exit_code == 2 and "nope" in bad.output
