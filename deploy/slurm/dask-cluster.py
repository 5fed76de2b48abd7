"""Example: a Dask cluster of SLURM jobs (dask-jobqueue) for the stages of t2g2p2s that fan out over transcripts
(the lexicon build of notebook 05a, the transcript tables of 03a), then the full profile pointed at it.

Run on the cluster's login node from the checkout, in the project's environment (`make install` there, plus
`pip install dask-jobqueue`), with the downloaded corpus under $T2G2P2S_DATA on a file system that the compute
nodes mount at the same path (the workers read the OpenPose files and write the lexicon's shards there):

    export T2G2P2S_DATA=/shared/t2g2p2s-data
    .venv/bin/python deploy/slurm/dask-cluster.py --jobs 8 --cores 16 --memory 64GB --partition cpu \
        --walltime 04:00:00 --profile params/full.yaml

It starts the workers as SLURM jobs, writes the scheduler's address into a copy of the profile (the key
`dask_scheduler` of notebooks 03a and 05a, with `executor: dask`), runs `t2g2p2s run` on that copy and stops
the jobs at the end. Adapt the marked values to your cluster. The run resumes with `--resume` after a stop:
finished stages are stamped and the lexicon build keeps its finished transcripts.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=4, help="SLURM jobs, one Dask worker process per core")
    ap.add_argument("--cores", type=int, default=16, help="cores per job (edit for your nodes)")
    ap.add_argument("--memory", default="64GB", help="memory per job (a worker needs about 1 GB; edit)")
    ap.add_argument("--partition", default=None, help="SLURM partition (queue); edit for your cluster")
    ap.add_argument("--account", default=None, help="SLURM account, where your cluster needs one")
    ap.add_argument("--walltime", default="04:00:00")
    ap.add_argument("--profile", default="params/full.yaml", help="the run profile to point at the cluster")
    ap.add_argument("--resume", action="store_true", help="pass --resume to the runner")
    a = ap.parse_args(argv)

    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=a.cores, processes=a.cores, memory=a.memory, queue=a.partition, account=a.account,
                           walltime=a.walltime, python=sys.executable,
                           job_script_prologue=[f"cd {Path.cwd()}", "export T2G2P2S_PROGRESS=0"])
    cluster.scale(jobs=a.jobs)
    client = Client(cluster)
    print(f"scheduler {cluster.scheduler_address}; waiting for the first worker (SLURM queue) ...", flush=True)
    client.wait_for_workers(1)
    prof = yaml.safe_load(Path(a.profile).read_text()) or {}
    nbs = prof.setdefault("notebooks", {})
    for key in ("03a", "05a"):
        nbs.setdefault(key, {}).update(executor="dask", dask_scheduler=cluster.scheduler_address)
    copy = Path(a.profile).with_name(Path(a.profile).stem + "-slurm.yaml")
    copy.write_text(yaml.safe_dump(prof, sort_keys=False))
    try:
        cmd = [str(Path(sys.executable).with_name("t2g2p2s")), "run", str(copy)] + (["--resume"] if a.resume else [])
        return subprocess.call(cmd)
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    raise SystemExit(main())
