"""The bad-input catalogue: every `synth` / `train` subcommand against bad inputs, through the real CLIs.

Each case in :data:`CASES` runs ``python -m MODULE ARGS`` in a subprocess (from the repository
root) against a shared workspace ``W`` (a small render, a small fit, crafted checkpoints and
manifests, files in the way) and must end with exit code ``code`` (2: a bad input), no
traceback, one line on stderr naming the key or file (``says``), and nothing under ``W``
written, changed, renamed or removed. Adding a case is one line. ``{W}`` in an argument is
the workspace; ``fsize`` limits the size of files the command may write (a full disk).
The cases run two at a time (~1.5 min here).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO

SYNTH, TRAIN, ASSETS = "synth.cli", "train.cli", "synth.heads.assets"
SPHERES = ("--maker", "synth.runner:sphere_sample_maker")
TINY = ("--set", "heads.pool_size=2", "--set", "output.width=64", "--set", "output.height=64")
RUN = (*SPHERES, *TINY, "--no-progress")   # how W/run was rendered (a resume of it must match)
FIT = ("--model", "ssrnet_md", "--epochs", "1", "--batch-size", "8")
MESH = ("--set", "heads.source=user", "--set", "heads.pool_size=1", "--set", "output.width=64",
        "--set", "output.height=64", "--no-progress")


@dataclass(frozen=True)
class Case:
    """One bad input: ``module`` run with ``args``; stderr must hold each of ``says`` ({W} substituted)."""

    id: str
    module: str
    args: tuple[str, ...]
    says: tuple[str, ...]
    code: int = 2
    fsize: int | None = None
    usage: bool = False   # an argparse error: usage line + message (still exit 2, no traceback)
    alone: bool = False   # writes and withdraws files on its way to the error: not run beside another case

    @property
    def runs_alone(self) -> bool:
        return self.alone or self.fsize is not None


def c(id, module, args, *says, **kw) -> Case:
    return Case(id, module, tuple(args), tuple(says), **kw)


CASES = [
    # --- security: untrusted checkpoints (1) and manifests (2)
    c("01-eval-malicious-pt", TRAIN, ["eval", "{W}/evil.pt", "--data", "synth:{W}/run"], "{W}/evil.pt", "posix.system"),
    c("01-demo-malicious-pt", TRAIN, ["demo", "{W}/evil.pt", "--input", "{W}/face.png", "--out", "{W}/o.png"],
      "{W}/evil.pt", "posix.system"),
    c("01-export-malicious-pt", TRAIN, ["export", "{W}/evil.pt", "--onnx", "{W}/o.onnx"], "posix.system"),
    c("01-distill-malicious-teacher", TRAIN, ["distill", "--teachers", "{W}/evil.pt", "--data", "synth:{W}/run",
                                              "--out", "{W}/o"], "{W}/evil.pt", "posix.system"),
    c("01-fit-resume-malicious-last", TRAIN, ["fit", *FIT, "--data", "synth:{W}/run", "--out", "{W}/evilfit"],
      "{W}/evilfit/checkpoints/last.pt", "posix.system"),
    c("02-render-absolute-entry", SYNTH, ["render", "--n", "16", "--shard-size", "8", "--out", "{W}/absrun", *RUN],
      "{W}/absrun/manifest.json", "shards[0].file", "{W}/victim.h5"),
    c("02-render-dotdot-entry", SYNTH, ["render", "--n", "16", "--shard-size", "8", "--out", "{W}/dotrun", *RUN],
      "shards[1].file", "../victim.h5"),
    c("02-inspect-dotdot-entry", SYNTH, ["inspect", "{W}/dotrun", "--verify"], "{W}/dotrun/manifest.json", "shards[1]"),
    c("02-preview-dotdot-entry", SYNTH, ["preview", "{W}/dotrun", "--n", "2", "--out", "{W}/o.png"], "shards[1]"),
    c("02-fit-dotdot-entry", TRAIN, ["fit", *FIT, "--data", "synth:{W}/dotrun", "--out", "{W}/o"], "shards[1]"),
    c("02-eval-suite-dotdot-entry", TRAIN, ["eval", "{W}/fit", "--suite", "{W}/dotrun"], "shards[1]"),
    # --- settings out of range (3), seeds (4), non-numbers (5)
    c("03-pitch-out-of-range", SYNTH, ["render", "--n", "4", "--out", "{W}/o", "--set", "pose.pitch=[400,500]"],
      "pose.pitch", "fix"),
    c("03-yaw-nan", SYNTH, ["sample", "--index", "0", "--set", "pose.yaw=[.nan,.nan]"], "pose.yaw", "finite"),
    c("03-negative-noise-sigma", SYNTH, ["preview", "--n", "2", "--out", "{W}/o.png", "--set",
                                         "effects.noise.sigma=[-3,1]"], "effects.noise.sigma", "fix"),
    c("03-zero-focal-length", SYNTH, ["render", "--n", "4", "--out", "{W}/o", "--set", "sensor.fx=0"], "sensor.fx"),
    c("03-robustness-bad-set", SYNTH, ["robustness", "--suite", "jpeg", "--out", "{W}/o", "--set",
                                       "lighting.elevation_deg=[0,120]"], "lighting.elevation_deg"),
    c("04-negative-seed", SYNTH, ["render", "--n", "4", "--out", "{W}/o", "--seed", "-1"], "seed", "fix"),
    c("04-user-folder-without-manifest", SYNTH, ["render", "--n", "4", "--out", "{W}/o", *SPHERES, *MESH, "--set",
                                                 "heads.user_folder={W}/emptydir"], "{W}/emptydir", "manifest"),
    c("05-colour-not-a-number", SYNTH, ["sample", "--index", "0", "--set", "lighting.colors.red=[1,x,0]"],
      "lighting.colors.red"),
    c("05-box-not-a-number", SYNTH, ["render", "--n", "4", "--out", "{W}/o", "--set",
                                     "effects.occlusion.boxes=[[a,60]]"], "effects.occlusion.boxes"),
    # --- damaged shards (6), model options (7), --out in the way (8), demo output (9), old checkpoints (10)
    c("06-fit-truncated-shard", TRAIN, ["fit", *FIT, "--data", "synth:{W}/trunc", "--out", "{W}/o"],
      "{W}/trunc/shard-00001.h5", "fix"),
    c("06-eval-truncated-shard", TRAIN, ["eval", "{W}/fit", "--data", "synth:{W}/trunc"], "shard-00001.h5"),
    c("06-inspect-truncated-shard", SYNTH, ["inspect", "{W}/trunc"], "{W}/trunc/shard-00001.h5", "fix"),
    c("07-model-arg-wrong-type", TRAIN, ["fit", "--model", "fsanet", "--model-arg", "stage_bins=abc", "--data",
                                        "synth:{W}/run", "--out", "{W}/o"], "stage_bins", "tuple[int, ...]"),
    c("07-model-arg-not-key-value", TRAIN, ["fit", *FIT, "--model-arg", "abc", "--data", "synth:{W}/run", "--out",
                                           "{W}/o"], "--model-arg 'abc'", "key=value"),
    c("07-recipe-wrong-type", TRAIN, ["fit", *FIT, "--recipe", "betas=[0.9]", "--data", "synth:{W}/run", "--out",
                                     "{W}/o"], "betas", "tuple[float, float]"),
    c("07-recipe-unknown", TRAIN, ["fit", *FIT, "--recipe", "warmup=3", "--data", "synth:{W}/run", "--out", "{W}/o"],
      "warmup"),
    c("08-fit-out-is-a-file", TRAIN, ["fit", *FIT, "--data", "synth:{W}/run", "--out", "{W}/afile.txt"],
      "{W}/afile.txt", "is a file"),
    c("08-fit-out-has-foreign-config", TRAIN, ["fit", *FIT, "--data", "synth:{W}/run", "--out", "{W}/notrun"],
      "{W}/notrun", "config.json"),
    c("08-fit-out-is-a-render", TRAIN, ["fit", *FIT, "--data", "synth:{W}/run", "--out", "{W}/run"],
      "{W}/run", "not a `train fit` run folder"),
    c("08-fit-other-config", TRAIN, ["fit", "--model", "ssrnet_md", "--epochs", "1", "--batch-size", "4", "--data",
                                    "synth:{W}/run", "--out", "{W}/fit"], "{W}/fit", "batch_size"),
    c("09-demo-unknown-suffix", TRAIN, ["demo", "{W}/fit", "--input", "{W}/face.png", "--out", "{W}/x.xyz"],
      "{W}/x.xyz", ".png"),
    c("09-demo-out-is-a-folder", TRAIN, ["demo", "{W}/fit", "--input", "{W}/face.png", "--out", "{W}/emptydir"],
      "{W}/emptydir", "is a folder"),
    c("10-pt-without-model-name", TRAIN, ["eval", "{W}/noname.pt", "--data", "synth:{W}/run"], "{W}/noname.pt",
      "'model_name'"),
    c("10-truncated-pt", TRAIN, ["demo", "{W}/trunc.pt", "--input", "{W}/face.png", "--out", "{W}/o.png"],
      "{W}/trunc.pt", "truncated"),
    # --- a full disk (11; the file-size limit makes every write past 4 KiB fail), a corrupt mesh (12), assets (13)
    c("11-inspect-disk-full", SYNTH, ["inspect", "{W}/run", "--out", "{W}/emptydir"], "pose.png", fsize=4096),
    c("11-inspect-disk-full-new-folder", SYNTH, ["inspect", "{W}/run"], "{W}/run/inspect/pose.png", fsize=4096),
    c("11-preview-disk-full", SYNTH, ["preview", "{W}/run", "--n", "4", "--out", "{W}/sheet.png"], "{W}/sheet.png",
      fsize=4096),
    c("11-sample-render-disk-full", SYNTH, ["sample", "--index", "0", "--render", "{W}/s.png", *TINY], "{W}/s.png",
      fsize=4096),
    c("12-corrupt-mesh-workers-2", SYNTH, ["render", "--n", "8", "--shard-size", "4", "--workers", "2", "--out",
                                           "{W}/o", *MESH, "--set", "heads.user_folder={W}/badmesh"], "bad.ply"),
    c("12-corrupt-mesh-workers-1", SYNTH, ["render", "--n", "8", "--shard-size", "4", "--workers", "1", "--out",
                                           "{W}/o", *MESH, "--set", "heads.user_folder={W}/badmesh"], "bad.ply",
      alone=True),   # in one process the worker's own mesh load is the check: its claim is withdrawn
    c("13-assets-checksum-mismatch", ASSETS, ["--root", "{W}/assets", "--tarball", "{W}/afile.txt"],
      "{W}/afile.txt", "sha256", alone=True),   # unpacks in a temporary folder next to --root
    # --- everything else a user can get wrong, per subcommand
    c("render-n-zero", SYNTH, ["render", "--n", "0", "--out", "{W}/o"], "--n 0"),
    c("render-negative-retries", SYNTH, ["render", "--n", "4", "--out", "{W}/o", "--retries", "-1"], "--retries"),
    c("render-out-is-a-file", SYNTH, ["render", "--n", "4", "--out", "{W}/afile.txt", *RUN], "{W}/afile.txt"),
    c("render-out-not-empty", SYNTH, ["render", "--n", "4", "--out", "{W}/notrun", *RUN], "{W}/notrun",
      "not empty"),
    c("render-other-config", SYNTH, ["render", "--n", "16", "--shard-size", "8", "--out", "{W}/run", *RUN,
                                     "--set", "lighting.ambient=[0.3,0.4]"], "lighting.ambient"),
    c("render-other-plan", SYNTH, ["render", "--n", "24", "--shard-size", "8", "--out", "{W}/run", *RUN], "--n 16"),
    c("render-unknown-maker", SYNTH, ["render", "--n", "4", "--out", "{W}/o", "--maker", "nowhere:make"], "--maker"),
    c("render-unknown-key", SYNTH, ["render", "--n", "4", "--out", "{W}/o", "--set", "pose.pich=[0,1]"], "pose.pich"),
    c("render-unknown-preset", SYNTH, ["render", "--n", "4", "--out", "{W}/o", "--preset", "nope"], "nope"),
    c("render-missing-config", SYNTH, ["render", "--n", "4", "--out", "{W}/o", "--config", "{W}/nope.yaml"],
      "{W}/nope.yaml"),
    c("render-config-not-yaml", SYNTH, ["sample", "--index", "0", "--config", "{W}/bad.yaml"], "{W}/bad.yaml"),
    c("render-no-n", SYNTH, ["render", "--out", "{W}/o"], "--n", usage=True),
    c("preview-n-zero", SYNTH, ["preview", "{W}/run", "--n", "0", "--out", "{W}/o.png"], "--n 0"),
    c("preview-out-is-a-folder", SYNTH, ["preview", "{W}/run", "--out", "{W}/emptydir"], "{W}/emptydir"),
    c("preview-not-a-run", SYNTH, ["preview", "{W}/notrun", "--out", "{W}/o.png"], "{W}/notrun"),
    c("preview-beside-not-a-folder", SYNTH, ["preview", "{W}/run", "--out", "{W}/o.png", "--beside", "{W}/nowhere"],
      "{W}/nowhere", "not a folder"),
    c("preview-beside-no-photos", SYNTH, ["preview", "{W}/run", "--out", "{W}/o.png", "--beside", "{W}/emptydir"],
      "{W}/emptydir", "no .jpg"),
    c("sample-negative-index", SYNTH, ["sample", "--index", "-1"], "--index -1"),
    c("sample-render-unknown-suffix", SYNTH, ["sample", "--index", "0", "--render", "{W}/s.xyz"], "{W}/s.xyz"),
    c("inspect-no-such-folder", SYNTH, ["inspect", "{W}/nowhere"], "{W}/nowhere"),
    c("inspect-not-a-run", SYNTH, ["inspect", "{W}/notrun"], "{W}/notrun", "manifest.json"),
    c("inspect-out-is-a-file", SYNTH, ["inspect", "{W}/run", "--out", "{W}/afile.txt"], "{W}/afile.txt"),
    c("robustness-unknown-suite", SYNTH, ["robustness", "--suite", "nope", "--out", "{W}/o"], "nope"),
    c("robustness-no-out", SYNTH, ["robustness", "--suite", "jpeg"], "--out"),
    c("robustness-n-base-zero", SYNTH, ["robustness", "--suite", "jpeg", "--out", "{W}/o", "--n-base", "0"],
      "--n-base 0"),
    c("heads-unknown-subcommand", SYNTH, ["heads", "uninstall"], "uninstall", usage=True),
    c("models-unknown-option", TRAIN, ["models", "--all"], "--all", usage=True),
    c("fit-unknown-model", TRAIN, ["fit", "--model", "fsanett", "--data", "synth:{W}/run", "--out", "{W}/o"],
      "fsanett"),
    c("fit-data-missing", TRAIN, ["fit", *FIT, "--data", "synth:{W}/nowhere", "--out", "{W}/o"], "{W}/nowhere"),
    c("fit-data-unknown-kind", TRAIN, ["fit", *FIT, "--data", "mpii:{W}/run", "--out", "{W}/o"], "mpii"),
    c("fit-data-bad-weight", TRAIN, ["fit", *FIT, "--data", "synth:{W}/run:heavy", "--out", "{W}/o"], "heavy"),
    c("fit-zero-epochs", TRAIN, ["fit", "--model", "ssrnet_md", "--epochs", "0", "--data", "synth:{W}/run",
                                 "--out", "{W}/o"], "epochs"),
    c("fit-negative-lr", TRAIN, ["fit", *FIT, "--lr", "-1", "--data", "synth:{W}/run", "--out", "{W}/o"], "--lr"),
    c("fit-negative-seed", TRAIN, ["fit", *FIT, "--seed", "-1", "--data", "synth:{W}/run", "--out", "{W}/o"],
      "--seed -1"),
    c("fit-zero-epoch-size", TRAIN, ["fit", *FIT, "--epoch-size", "0", "--data", "synth:{W}/run", "--out", "{W}/o"],
      "--epoch-size"),
    c("fit-cuda-without-gpu", TRAIN, ["fit", *FIT, "--device", "cuda", "--data", "synth:{W}/run", "--out", "{W}/o"],
      "--device"),
    c("distill-no-teachers", TRAIN, ["distill", "--teachers", ",", "--data", "synth:{W}/run", "--out", "{W}/o"],
      "--teachers"),
    c("distill-missing-teacher", TRAIN, ["distill", "--teachers", "{W}/nowhere", "--data", "synth:{W}/run", "--out",
                                         "{W}/o"], "{W}/nowhere"),
    c("eval-no-data", TRAIN, ["eval", "{W}/fit"], "--data"),
    c("eval-no-such-run", TRAIN, ["eval", "{W}/nowhere", "--data", "synth:{W}/run"], "{W}/nowhere"),
    c("eval-no-such-pt", TRAIN, ["eval", "{W}/nowhere.pt", "--data", "synth:{W}/run"], "{W}/nowhere.pt"),
    c("eval-suite-not-a-suite", TRAIN, ["eval", "{W}/fit", "--suite", "{W}/run"], "{W}/run", "robustness suite"),
    c("eval-zero-batch-size", TRAIN, ["eval", "{W}/fit", "--data", "synth:{W}/run", "--batch-size", "0"],
      "--batch-size 0"),
    c("eval-zero-limit", TRAIN, ["eval", "{W}/fit", "--data", "synth:{W}/run", "--limit", "0"], "--limit 0"),
    c("eval-unknown-corruption", TRAIN, ["eval", "{W}/fit", "--data", "synth:{W}/run", "--corrupt", "nope"], "nope"),
    c("eval-not-a-checkpoint", TRAIN, ["eval", "{W}/afile.txt", "--data", "synth:{W}/run"], "{W}/afile.txt"),
    c("export-onnx-is-a-folder", TRAIN, ["export", "{W}/fit", "--onnx", "{W}/emptydir"], "{W}/emptydir"),
    c("demo-input-missing", TRAIN, ["demo", "{W}/fit", "--input", "{W}/nowhere.png", "--out", "{W}/o.png"],
      "{W}/nowhere.png"),
    c("demo-input-not-an-image", TRAIN, ["demo", "{W}/fit", "--input", "{W}/afile.txt", "--out", "{W}/o.png"],
      "{W}/afile.txt"),
    c("demo-bad-box", TRAIN, ["demo", "{W}/fit", "--input", "{W}/face.png", "--out", "{W}/o.png", "--box", "1,2,3"],
      "--box"),
    c("demo-empty-box", TRAIN, ["demo", "{W}/fit", "--input", "{W}/face.png", "--out", "{W}/o.png", "--box",
                                "5,5,5,5"], "box"),
]


# --- the workspace --------------------------------------------------------------------------------

def _manifest_with(folder: Path, files: list[str]) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    for entry, name in zip(m["shards"], files):
        entry["file"] = name
    (folder / "manifest.json").write_text(json.dumps(m))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """W: a 16-sample sphere render (two shards), a one-epoch fit on it, and crafted inputs."""
    import shutil

    from PIL import Image

    from synth.config import load_config
    from synth.runner import render_run
    from train.distributed import fit
    from train.engine import FitConfig

    W = tmp_path_factory.mktemp("bad-inputs")
    # the full-disk cases must fail on their own output, not on the first build of anny's model cache
    # (~1.2 GB, written once by `synth heads install`; tests/test_heads.py covers that write failing)
    subprocess.run([sys.executable, "-c", "from synth.heads.anny_model import load_anny_model as f; f()"],
                   cwd=REPO, check=True, timeout=600)
    cfg = load_config(REPO / "pipeline.yaml", overrides=["heads.pool_size=2", "output.width=64", "output.height=64"])
    render_run(cfg, W / "run", 16, shard_size=8, workers=1, maker="synth.runner:sphere_sample_maker",
               progress=False, log=lambda m: None)
    fit(FitConfig(model="ssrnet_md", data=[f"synth:{W / 'run'}"], out=str(W / "fit"), epochs=1, batch_size=8,
                  progress=False), log=lambda m: None)
    best = torch.load(W / "fit" / "checkpoints" / "best.pt", weights_only=True)
    torch.save({**best, "x": _RunsCode(W / "PWNED")}, W / "evil.pt")
    shutil.copytree(W / "fit", W / "evilfit")
    torch.save({**best, "x": _RunsCode(W / "PWNED")}, W / "evilfit" / "checkpoints" / "last.pt")
    torch.save({k: v for k, v in best.items() if k not in ("model_name", "config")}, W / "noname.pt")
    (W / "trunc.pt").write_bytes((W / "fit" / "checkpoints" / "best.pt").read_bytes()[:2000])
    for name in ("trunc", "absrun", "dotrun"):
        shutil.copytree(W / "run", W / name)
    data = (W / "trunc" / "shard-00001.h5").read_bytes()
    (W / "trunc" / "shard-00001.h5").write_bytes(data[: len(data) // 3])
    shutil.copy(W / "run" / "shard-00000.h5", W / "victim.h5")
    _manifest_with(W / "absrun", [str(W / "victim.h5")])
    _manifest_with(W / "dotrun", ["shard-00000.h5", "../victim.h5"])
    (W / "notrun").mkdir()
    (W / "notrun" / "config.json").write_text('{"mine": true}')
    (W / "emptydir").mkdir()
    (W / "badmesh").mkdir()
    (W / "badmesh" / "bad.ply").write_bytes(b"ply\nformat garbage\n\x00\x01\x02")
    (W / "badmesh" / "manifest.yaml").write_text("heads:\n  - file: bad.ply\n")
    (W / "afile.txt").write_text("not what it should be\n")
    (W / "bad.yaml").write_text("synth: [unclosed\n")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(W / "face.png")
    return W


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _snapshot(root: Path) -> dict:
    """Every path under ``root``: folders, and files with size and modification time (a write, rename or
    removal changes it; a temporary file created and removed again does not)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = "dir" if p.is_dir() else (st.st_size, st.st_mtime_ns)
    return out


def _run(case: Case, W: Path) -> tuple[subprocess.CompletedProcess, dict, dict]:
    args = [a.replace("{W}", str(W)) for a in case.args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}

    def limit():
        if case.fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (case.fsize, case.fsize))

    before = _snapshot(W)
    r = subprocess.run([sys.executable, "-m", case.module, *args], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=240, preexec_fn=limit)
    return r, before, _snapshot(W)


@pytest.fixture(scope="module")
def outcomes(workspace, request) -> dict:
    """Runs the selected cases, two at a time (each case then checks its own result); those that create and
    remove files on their way to the error (full disk, a claim withdrawn) alone afterwards."""
    wanted = {item.callspec.params["case"].id for item in request.session.items
              if getattr(item, "callspec", None) and item.function is test_bad_input}
    cases = [k for k in CASES if k.id in wanted]
    together = [k for k in cases if not k.runs_alone]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip((k.id for k in together), pool.map(lambda k: _run(k, workspace), together)))
    results.update({k.id: _run(k, workspace) for k in cases if k.runs_alone})
    return results


def test_the_catalogue_is_well_formed():
    ids = [k.id for k in CASES]
    assert len(ids) == len(set(ids)) and all(k.says for k in CASES)
    items = {f"{n:02d}" for n in range(1, 14)}
    assert items <= {i[:2] for i in ids}, "every item of the issue has a case"


@pytest.mark.parametrize("case", CASES, ids=[k.id for k in CASES])
def test_bad_input(case, workspace, outcomes):
    r, before, after = outcomes[case.id]
    W = str(workspace)
    err = r.stderr
    assert "Traceback" not in err and "\x1b[" not in err, err
    assert r.returncode == case.code, f"exit {r.returncode}\n{err}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if case.usage:   # argparse: its usage text, then one line "PROG: error: ..."
        assert lines[0].startswith("usage:") and ": error: " in lines[-1], err
    else:
        assert len(lines) == 1, err
    for text in case.says:
        assert text.replace("{W}", W) in err, f"{text!r} not in: {err}"
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"written or changed: {changed}"
    assert not (workspace / "PWNED").exists(), "a checkpoint ran its code"
