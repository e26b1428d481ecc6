"""Multi-node launches for real on one machine, hostfile checks, and the Slurm hostfile helper.

Two "nodes" are two host names served by one sshd on loopback (127.0.0.2 and 127.0.0.3, a
free port, a throw-away host key and client key). The names resolve through an ssh client
config, not /etc/hosts: an `ssh` wrapper first on PATH adds `-F <config>`, and both the
DeepSpeed runner's ssh check and pdsh's ssh module find `ssh` through PATH. Nothing on the
machine is changed; the sshd and everything it started are killed at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.launch import REPO, free_port, job_env
from toolkit.errors import ConfigError
from toolkit.runtime.launch import expand_nodelist, main as launch_main, parse_hostfile, slurm_slots, write_slurm_hostfile

NODES = {"node1": "127.0.0.2", "node2": "127.0.0.3"}


# ---------------------------------------------------------------------------------------------
# Hostfiles and Slurm (fast).
# ---------------------------------------------------------------------------------------------


def test_parse_hostfile_accepts_comments_and_keeps_order(tmp_path):
    f = tmp_path / "hosts"
    f.write_text("# cluster\nworker-2 slots=8\n\n  worker-1   slots=4  \n")
    assert list(parse_hostfile(f).items()) == [("worker-2", 8), ("worker-1", 4)]


@pytest.mark.parametrize(
    "text, message",
    [
        ("node1 slots=2x\n", "line 1: expected 'hostname slots=N', got 'node1 slots=2x'"),
        ("node1\n", "line 1: expected 'hostname slots=N'"),
        ("# only a comment\n", "lists no hosts"),
        ("node1 slots=0\n", "line 1: node1 has slots=0; expected >= 1"),
        ("node1 slots=1\nnode1 slots=2\n", "line 2: host 'node1' is listed twice"),
    ],
)
def test_malformed_hostfile_names_the_line(tmp_path, text, message):
    f = tmp_path / "hosts"
    f.write_text(text)
    with pytest.raises(ConfigError, match="hosts") as err:
        parse_hostfile(f)
    assert message in str(err.value)


def test_missing_hostfile_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; the deepspeed launcher would silently run"):
        parse_hostfile(tmp_path / "nope")


def test_expand_slurm_nodelist():
    assert expand_nodelist("node[01-03,07]") == ["node01", "node02", "node03", "node07"]
    assert expand_nodelist("a1,gpu[8-10],b") == ["a1", "gpu8", "gpu9", "gpu10", "b"]
    assert expand_nodelist("r[1-2]-n[1-2]") == ["r1-n1", "r1-n2", "r2-n1", "r2-n2"]
    for bad in ("node[01-", "node[3-1]", "node[a-b]"):
        with pytest.raises(ConfigError, match="Slurm node list"):
            expand_nodelist(bad)


def test_slurm_hostfile_from_fake_allocation(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no scontrol: parse the list ourselves
    env = {"SLURM_JOB_NODELIST": "gpu[01-02,07]", "SLURM_GPUS_ON_NODE": "4"}
    hosts = write_slurm_hostfile(tmp_path / "hostfile", env=env)
    assert (tmp_path / "hostfile").read_text() == "gpu01 slots=4\ngpu02 slots=4\ngpu07 slots=4\n"
    assert hosts == {"gpu01": 4, "gpu02": 4, "gpu07": 4}
    assert slurm_slots({"SLURM_NTASKS_PER_NODE": "2(x3)"}) == 2
    assert slurm_slots({}) == 1
    with pytest.raises(ConfigError, match="SLURM_JOB_NODELIST is not set"):
        write_slurm_hostfile(tmp_path / "h2", env={})


def test_slurm_hostfile_prefers_scontrol(tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "scontrol"
    fake.write_text('#!/bin/sh\n[ "$1 $2 $3" = "show hostnames c[1-2]" ] && printf "alpha\\nbeta\\n"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "c[1-2]")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "2")
    assert launch_main(["slurm-hostfile", str(tmp_path / "h")]) == 0
    assert (tmp_path / "h").read_text() == "alpha slots=2\nbeta slots=2\n"
    assert launch_main(["check", str(tmp_path / "h")]) == 0
    assert "2 nodes, 4 ranks" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Real launches.
# ---------------------------------------------------------------------------------------------


def job_args(tiny_model_dir: Path, data_dir: Path, root: Path, cache: Path) -> list[str]:
    return [
        f"model.name_or_path={tiny_model_dir}",
        f"data.data_dir={data_dir}",
        f"data.cache_dir={cache}",
        f"output_root={root}",
        "experiment=mn",
        "train.deepspeed_config=ds_configs/zero2.json",
        "train.micro_batch_size=4",
        "train.max_steps=4",
        "train.eval_every=4",
        "train.log_every=2",
    ]


def check_two_rank_run(root: Path) -> None:
    import json

    run = root / "mn" / "english" / "mnli"
    assert (run / "DONE").exists() and (run / "encoder" / "model.safetensors").exists()
    ds = json.loads((run / "ds_config.json").read_text())
    assert ds["train_batch_size"] == 8, "2 ranks x micro batch 4: the job ran on both nodes"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.fixture
def loopback_sshd(tmp_path):
    """An sshd on 127.0.0.2/127.0.0.3 and a PATH whose `ssh` reaches it as node1/node2."""
    sshd, keygen = shutil.which("sshd") or "/usr/sbin/sshd", shutil.which("ssh-keygen")
    for tool, path in (("sshd", sshd), ("ssh-keygen", keygen), ("ssh", shutil.which("ssh")),
                       ("pdsh", shutil.which("pdsh"))):
        if not path or not os.path.exists(path):
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs pdsh, openssh-client, openssh-server)")
    d = tmp_path / "ssh"
    d.mkdir()
    for key in ("host_key", "id"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    shutil.copy(d / "id.pub", d / "authorized_keys")
    (d / "authorized_keys").chmod(0o600)
    with socket.socket() as s:  # a port free on both addresses
        s.bind(("127.0.0.2", 0))
        port = s.getsockname()[1]
    listen = "".join(f"ListenAddress {ip}\n" for ip in NODES.values())
    (d / "sshd_config").write_text(
        f"Port {port}\n{listen}HostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PidFile {d}/sshd.pid\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
    )
    hosts = "".join(f"Host {name}\n  HostName {ip}\n" for name, ip in NODES.items())
    (d / "ssh_config").write_text(
        f"{hosts}Host *\n  Port {port}\n  User {os.environ.get('USER', 'root')}\n  IdentityFile {d}/id\n"
        "  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
        "  LogLevel ERROR\n"
    )
    (d / "bin").mkdir()
    (d / "bin" / "ssh").write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {d}/ssh_config "$@"\n')
    (d / "bin" / "ssh").chmod(0o755)
    if os.access("/run", os.W_OK):
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd refuses to start without its privilege-separation dir
    # -D: stay in the foreground as our child, so we hold its pid; -e: log to stderr.
    daemon = subprocess.Popen([sshd, "-D", "-e", "-f", str(d / "sshd_config")], stderr=open(d / "sshd.log", "w"))
    env = {**os.environ, "PATH": f"{d / 'bin'}:{os.environ['PATH']}"}
    try:
        deadline = time.time() + 20
        while subprocess.run(["ssh", "node2", "true"], env=env, capture_output=True).returncode != 0:
            if daemon.poll() is not None or time.time() > deadline:
                pytest.skip(f"sshd could not serve on loopback: {(d / 'sshd.log').read_text()[-800:]}")
            time.sleep(0.3)
        yield env
    finally:
        for pid in _descendants(daemon.pid):  # sessions and whatever they started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        daemon.kill()
        daemon.wait(timeout=30)


def _ds_env_file(tmp_path: Path, cache: Path) -> Path:
    """Variables for ranks started over ssh (pdsh only forwards PYTHON*-like names)."""
    f = tmp_path / "ds_env"
    f.write_text(f"XSTILTS_CACHE={cache}\nOMP_NUM_THREADS=1\nTOKENIZERS_PARALLELISM=false\n")
    return f


@pytest.mark.slow
@pytest.mark.distributed
def test_two_nodes_over_pdsh_and_ssh(loopback_sshd, tiny_model_dir, mnli_fixture_dir, tmp_path):
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("".join(f"{name} slots=1\n" for name in NODES))
    cache = tmp_path / "cache"
    env = {**job_env(cache), "PATH": loopback_sshd["PATH"], "DS_ENV_FILE": str(_ds_env_file(tmp_path, cache))}
    cmd = [shutil.which("deepspeed") or "deepspeed", "--hostfile", str(hostfile), "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "run_scripts/intermediate.sh",
           *job_args(tiny_model_dir, mnli_fixture_dir, tmp_path / "runs", cache)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:]
    # pdsh prefixes every line with the host that printed it: both nodes ran a rank.
    assert any(line.startswith("node2: ") for line in proc.stdout.splitlines()), proc.stdout[-3000:]
    check_two_rank_run(tmp_path / "runs")


@pytest.mark.slow
@pytest.mark.distributed
def test_two_nodes_without_ssh_one_launcher_per_node(tiny_model_dir, mnli_fixture_dir, tmp_path):
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("".join(f"{name} slots=1\n" for name in NODES))
    cache, port = tmp_path / "cache", str(free_port())
    args = job_args(tiny_model_dir, mnli_fixture_dir, tmp_path / "runs", cache)
    launchers = []
    for rank in (0, 1):
        cmd = [shutil.which("deepspeed") or "deepspeed", "--hostfile", str(hostfile), "--no_ssh", "--node_rank",
               str(rank), "--master_addr", "127.0.0.1", "--master_port", port, "run_scripts/intermediate.sh", *args]
        log = open(tmp_path / f"node{rank}.log", "w")
        launchers.append(subprocess.Popen(cmd, cwd=REPO, env=job_env(cache), stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
    try:
        codes = [p.wait(timeout=900) for p in launchers]
    finally:
        for p in launchers:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    logs = [(tmp_path / f"node{r}.log").read_text() for r in (0, 1)]
    assert codes == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    check_two_rank_run(tmp_path / "runs")


@pytest.mark.distributed
@pytest.mark.parametrize("content", [None, "localhost slots=1x\n"], ids=["missing", "malformed"])
def test_bad_hostfile_stops_the_job_before_training(content, tiny_model_dir, mnli_fixture_dir, tmp_path):
    """DeepSpeed itself only warns about a missing hostfile (and reads slots=1x as 1): our ranks refuse."""
    hostfile = tmp_path / "hostfile"
    if content is not None:
        hostfile.write_text(content)
    cache = tmp_path / "cache"
    # --no_ssh_check, --master_addr: DeepSpeed would otherwise stop at its ssh probes of the listed host.
    cmd = [shutil.which("deepspeed") or "deepspeed", "--hostfile", str(hostfile), "--no_ssh_check", "--num_gpus", "1",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "run_scripts/intermediate.sh",
           *job_args(tiny_model_dir, mnli_fixture_dir, tmp_path / "runs", cache)]
    proc = subprocess.run(cmd, cwd=REPO, env=job_env(cache), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout[-3000:]
    expected = "does not exist; the deepspeed launcher would silently run" if content is None else \
        "line 1: expected 'hostname slots=N', got 'localhost slots=1x'"
    assert f"error: hostfile {hostfile}" in proc.stdout and expected in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / "runs").exists(), "nothing may be written before the hostfile is checked"

