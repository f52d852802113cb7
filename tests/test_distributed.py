"""torchrun on CPU (gloo, 2 processes): a split benchmark equals one process row by row, DDP training
equals one process with the same global batch, and a benchmark survives a killed rank.

Every launch gets a free port and a timeout; the processes run with one thread each, like the
one-process references computed here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# two of our samplers, deepinv's DDRM, three classical baselines (one kind each: sampler, deepinv, baseline)
METHODS = ["ddrm", "diffpir", "deepinv-ddrm", "pinv", "wiener", "biharmonic"]
TIMING = {"time_s", "batch_time_s", "peak_mem_mib"}
TINY = ["--width", "8", "--multipliers", "1", "2", "--attention", "1", "--batch", "4", "--lr", "1e-3"]

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(), reason="no gloo"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args, n: int = 2) -> list[str]:
    port = ["--master-addr=127.0.0.1", f"--master-port={_free_port()}"]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={n}", *port, "-m", "invdiff", *args]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(cmd, timeout: float = 120) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _strip(rows) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


class _OneThread:
    def __enter__(self):
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.n)


_REFERENCE: list = []


def _reference(tmp_path_factory) -> list[dict]:
    """The smoke suite (METHODS only) in this process, one thread; computed once."""
    if not _REFERENCE:
        from invdiff.bench import run_suite

        out = tmp_path_factory.mktemp("one") / "results.jsonl"
        with _OneThread():
            run_suite("smoke", out, methods=METHODS, device="cpu", progress=False)
        _REFERENCE.extend(_rows(out))
    return _REFERENCE


def _start(cmd) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(p: subprocess.Popen, timeout: float = 120) -> str:
    try:
        err = p.communicate(timeout=timeout)[1].decode()
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err[-4000:]
    return err


def test_two_ranks_bench_equals_one_process(tmp_path, tmp_path_factory):
    args = ["bench", "smoke", "--out", tmp_path, "--device", "cpu", "--no-summary", "--methods", *METHODS]
    run = _start(_torchrun(args))
    reference = _reference(tmp_path_factory)  # meanwhile, in this process
    _wait(run)
    merged = _rows(tmp_path / "results.jsonl")
    assert len(reference) == 20 and "ok" in {r["status"] for r in reference}
    assert _strip(merged) == _strip(reference)  # same rows, same order, same numbers
    assert not (tmp_path / "shards").exists()  # the shards went into results.jsonl
    assert json.loads((tmp_path / "results_meta.json").read_text())["suite"] == "smoke"


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            kids = [int(c) for c in (task / "children").read_text().split()]
            out += kids
            todo += kids
    return out


def _rank_pid(root: int, rank: int) -> int | None:
    for pid in _descendants(root):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and b"LOCAL_RANK=" + str(rank).encode() in env:
            return pid
    return None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to find a rank's process")
def test_killed_rank_then_rerun_loses_and_repeats_nothing(tmp_path, tmp_path_factory):
    from invdiff.bench import distributed as BD

    reference = _reference(tmp_path_factory)
    reference = [r for r in reference if r["kind"] != "deepinv"]  # rows do not depend on the other methods
    methods = [m for m in METHODS if not m.startswith("deepinv")]  # (deepinv's import alone takes seconds)
    args = ["bench", "smoke", "--out", tmp_path, "--device", "cpu", "--methods", *methods]
    launcher = _start(_torchrun([*args, "--no-summary"]))
    shard = BD.shard_path(tmp_path / "results.jsonl", 1)
    deadline, killed = time.monotonic() + 120, False
    try:
        while time.monotonic() < deadline and launcher.poll() is None:
            if shard.is_file() and shard.read_bytes().count(b"\n") >= 1:
                pid = _rank_pid(launcher.pid, 1)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)  # rank 1 dies after its first batch
                    killed = True
                    break
            time.sleep(0.02)
        err = launcher.communicate(timeout=60)[1].decode()
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert killed, "rank 1 finished before it could be killed"
    assert launcher.returncode != 0, err[-2000:]  # torchrun stopped the run
    assert not (tmp_path / "results.jsonl").exists()  # no merge happened
    before = {BD.store.row_key(r): r for p in BD.shards(tmp_path / "results.jsonl") for r in _rows(p)}
    assert 0 < len(before) < len(reference)

    _run(_torchrun([*args, "--no-summary"]))  # the rerun
    merged = _rows(tmp_path / "results.jsonl")
    keys = [BD.store.row_key(r) for r in merged]
    assert len(keys) == len(set(keys)) == len(reference)  # no duplicate, none lost
    assert _strip(merged) == _strip(reference)
    for r in merged:  # rows finished before the kill were kept, not run again
        if BD.store.row_key(r) in before:
            assert r["batch_time_s"] == before[BD.store.row_key(r)]["batch_time_s"]


def test_one_process_rerun_takes_over_the_shards(tmp_path, tmp_path_factory):
    """A run killed on several processes, continued by one: the shards' rows are kept, not rerun."""
    from invdiff.bench import distributed as BD

    reference = [r for r in _reference(tmp_path_factory) if r["kind"] != "deepinv"]
    out = tmp_path / "results.jsonl"
    kept = [dict(r, batch_time_s=-1.0) for r in reference[3:9]]  # as if another process had done these
    BD.shard_path(out, 1).parent.mkdir()
    BD.shard_path(out, 1).write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"torn')
    methods = [m for m in METHODS if not m.startswith("deepinv")]
    with _OneThread():
        BD.run_distributed("smoke", out, methods=methods, device="cpu", progress=False)
    merged = {BD.store.row_key(r): r for r in _rows(out)}  # the shard's rows first, then the rest
    assert len(merged) == len(_rows(out)) == len(reference) and not BD.shards(out)
    assert _strip(merged[BD.store.row_key(r)] for r in reference) == _strip(reference)
    assert [merged[BD.store.row_key(r)]["batch_time_s"] for r in kept] == [-1.0] * 6


def test_ddp_training_equals_one_process_with_the_same_global_batch(tmp_path):
    from invdiff.io import safe_load
    from invdiff.nets.unet import UNetConfig
    from invdiff.resume import ResumeMismatch
    from invdiff.train import TrainConfig, train

    common = ["--steps", "5", "--save-every", "5", "--threads", "1", *TINY]
    run = _start(_torchrun(["train", "--out", tmp_path / "ddp.ckpt", *common]))
    net = UNetConfig(in_channels=1, channels=8, multipliers=(1, 2), attention_levels=(1,)).to_dict()
    cfg = TrainConfig(
        out=str(tmp_path / "one.ckpt"), steps=5, batch=4, lr=1e-3, ema=0.999, save_every=5, net=net, streams=2
    )
    with _OneThread():  # meanwhile, in this process: 2 data streams, the global batch of 4
        train(cfg, progress=False, device="cpu")
    _wait(run)
    ddp, one = safe_load(tmp_path / "ddp.ckpt"), safe_load(cfg.out)
    assert ddp["step"] == one["step"] == 5 and ddp["config"]["streams"] == 2
    assert torch.equal(ddp["rng"], one["rng"])  # both streams' generator states
    for part in ("model", "ema"):
        for k, v in one[part].items():
            torch.testing.assert_close(ddp[part][k], v, rtol=1e-5, atol=1e-6, msg=f"{part}.{k}")
    torch.testing.assert_close(ddp["log"], one["log"], rtol=1e-5, atol=1e-6)

    # one process continues the 2-process run exactly as it continues its own; 3 processes are refused
    from dataclasses import replace

    with _OneThread():
        train(replace(cfg, out=str(tmp_path / "ddp.ckpt"), steps=7, streams=0), resume=True, progress=False)
        train(replace(cfg, steps=7), resume=True, progress=False)
    a, b = safe_load(tmp_path / "ddp.ckpt"), safe_load(cfg.out)
    for k, v in b["model"].items():
        torch.testing.assert_close(a["model"][k], v, rtol=1e-5, atol=1e-6)
    from invdiff.train_data import resolve_streams

    with pytest.raises(ResumeMismatch, match=r"on 3 processes.*2 data streams.*1, 2 process"):
        resolve_streams(cfg, {"config": a["config"]}, 3, cfg.out)
