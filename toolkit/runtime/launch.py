"""Multi-node launch helpers: strict hostfiles, the guard against a silent one-node run, Slurm.

The DeepSpeed launcher (`deepspeed --hostfile H ...`) only *warns* when H does not exist and then
trains on the local machine alone, and it reads `node1 slots=2x` as 2 slots. A long job that
quietly runs on one node instead of eight wastes a week, so every rank checks, at start-up, the
hostfile its launcher was given (`check_launcher_hostfile`, called by `init_distributed`).

Command line:
    python -m toolkit.runtime.launch check HOSTFILE            validate a hostfile, print hosts and slots
    python -m toolkit.runtime.launch slurm-hostfile OUT [--slots N]
                                                       write the hostfile of this Slurm allocation
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from toolkit.errors import ConfigError
from toolkit.io import atomic_write_text

_HOST_LINE = re.compile(r"^(\S+)\s+slots=(\d+)$")


def parse_hostfile(path: str | os.PathLike) -> dict[str, int]:
    """Hosts and their slot counts, in file order; every defect is a ConfigError naming the line.

    Format (DeepSpeed's): one `hostname slots=N` per line; blank lines and `#` comments allowed.
    Stricter than DeepSpeed on purpose: a missing file, trailing junk (`slots=2x`), zero slots
    or a repeated host is an error rather than a warning or a silent misreading.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"hostfile {path} does not exist; the deepspeed launcher would silently run on this "
            "machine only. Create it (one 'hostname slots=N' per line; under Slurm: "
            "python -m toolkit.runtime.launch slurm-hostfile FILE) or drop --hostfile for a one-node run"
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ConfigError(f"hostfile {path}: not UTF-8 text ({err})") from None
    hosts: dict[str, int] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _HOST_LINE.match(line)
        if not match:
            raise ConfigError(f"hostfile {path}, line {number}: expected 'hostname slots=N', got {raw!r}")
        host, slots = match.group(1), int(match.group(2))
        if slots < 1:
            raise ConfigError(f"hostfile {path}, line {number}: {host} has slots={slots}; expected >= 1")
        if host in hosts:
            raise ConfigError(f"hostfile {path}, line {number}: host {host!r} is listed twice")
        hosts[host] = slots
    if not hosts:
        raise ConfigError(f"hostfile {path} lists no hosts (expected 'hostname slots=N' lines)")
    return hosts


# ---------------------------------------------------------------------------------------------
# The guard: which hostfile was the launcher given?
# ---------------------------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _parent(pid: int) -> int:
    try:
        # Field 4 of /proc/PID/stat, after the parenthesised command name (which may hold spaces).
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _runner_args(cmd: list[str]) -> list[str] | None:
    """The arguments of a DeepSpeed runner command line (`deepspeed ...`), else None."""
    for i, part in enumerate(cmd[:3]):
        if os.path.basename(part) == "deepspeed" or part == "deepspeed.launcher.runner":
            return cmd[i + 1:]
    return None


def launcher_hostfile(pid: int | None = None) -> tuple[str | None, str] | None:
    """(hostfile given to the `deepspeed` runner or None if not given, runner's cwd) for the runner
    among this process's ancestors; None when the process was not started by a local runner
    (pdsh/ssh on a remote node, torchrun, Slurm, plain bash)."""
    pid = os.getppid() if pid is None else pid
    for _ in range(8):  # rank -> deepspeed.launcher.launch -> deepspeed runner (plus shells)
        if pid <= 1:
            return None
        args = _runner_args(_cmdline(pid))
        if args is not None:
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                cwd = "."
            # Our run scripts take key=value arguments, so a --hostfile anywhere is the launcher's.
            for i, arg in enumerate(args):
                if arg in ("--hostfile", "-H") and i + 1 < len(args):
                    return args[i + 1], cwd
                if arg.startswith("--hostfile="):
                    return arg.split("=", 1)[1], cwd
            return None, cwd
        pid = _parent(pid)
    return None


def check_launcher_hostfile() -> None:
    """Fail when this rank's `deepspeed` launcher was given a missing or malformed hostfile.

    Only the ranks on the machine where `deepspeed` was typed can see its command line; they are
    exactly the ranks that a missing hostfile turns into a silent one-node run.
    """
    found = launcher_hostfile()
    if found is None or found[0] is None:
        return
    hostfile, cwd = found
    parse_hostfile(Path(cwd) / hostfile)


# ---------------------------------------------------------------------------------------------
# Slurm.
# ---------------------------------------------------------------------------------------------


def expand_nodelist(nodelist: str) -> list[str]:
    """Slurm's compact host list to names: 'gpu[01-03,07],login1' -> gpu01 gpu02 gpu03 gpu07 login1.

    Zero padding of ranges is kept (01-03 gives 01, 02, 03). Several bracket groups in one name
    (rack[1-2]-node[1-2]) expand as a product, as Slurm does.
    """
    names: list[str] = []
    for item in _split_top_level(nodelist.strip()):
        names.extend(_expand_one(item, nodelist))
    if not names:
        raise ConfigError(f"empty Slurm node list {nodelist!r}")
    return names


def _split_top_level(text: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if depth < 0 or depth > 1:
            raise ConfigError(f"malformed Slurm node list {text!r}: unbalanced brackets")
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise ConfigError(f"malformed Slurm node list {text!r}: unbalanced brackets")
    items.append(text[start:])
    return [i for i in items if i]


def _expand_one(item: str, whole: str) -> list[str]:
    match = re.search(r"\[([^\]]*)\]", item)
    if not match:
        return [item]
    head, tail = item[: match.start()], item[match.end():]
    values = []
    for part in match.group(1).split(","):
        bounds = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not bounds:
            raise ConfigError(f"malformed Slurm node list {whole!r}: bad range {part!r}")
        lo, hi = bounds.group(1), bounds.group(2) or bounds.group(1)
        if int(hi) < int(lo):
            raise ConfigError(f"malformed Slurm node list {whole!r}: range {part!r} runs backwards")
        width = len(lo)
        values.extend(str(n).zfill(width) for n in range(int(lo), int(hi) + 1))
    return [name for v in values for name in _expand_one(head + v + tail, whole)]


def slurm_hosts(env: dict[str, str] | None = None) -> list[str]:
    """Host names of the current allocation: `scontrol show hostnames` when available, else parsed."""
    env = dict(os.environ if env is None else env)
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        raise ConfigError("not inside a Slurm allocation: SLURM_JOB_NODELIST is not set")
    if shutil.which("scontrol"):
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.split():
            return out.stdout.split()
    return expand_nodelist(nodelist)


def _count(value: str) -> int:
    """SLURM_GPUS_ON_NODE / SLURM_NTASKS_PER_NODE values: '4', '4(x2)' (per-node lists) or 'gpu:4'."""
    match = re.match(r"(?:\w+:)*(\d+)", value.strip())
    if not match:
        raise ConfigError(f"cannot read a slot count from {value!r}")
    return int(match.group(1))


def slurm_slots(env: dict[str, str] | None = None) -> int:
    """Slots per node: GPUs on the node, else tasks per node; a CPU-only job without either is 1."""
    env = dict(os.environ if env is None else env)
    for key in ("SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE", "SLURM_NTASKS_PER_NODE"):
        if env.get(key):
            return _count(env[key])
    return 1


def write_slurm_hostfile(out: str | os.PathLike, slots: int | None = None,
                         env: dict[str, str] | None = None) -> dict[str, int]:
    """Write `out` as a DeepSpeed hostfile for the current Slurm allocation; returns its hosts."""
    hosts = slurm_hosts(env)
    slots = slots or slurm_slots(env)
    text = "".join(f"{h} slots={slots}\n" for h in hosts)
    return parse_hostfile(atomic_write_text(out, text))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(argv) == 2 and argv[0] == "check":
            hosts = parse_hostfile(argv[1])
            print(f"{argv[1]}: {len(hosts)} nodes, {sum(hosts.values())} ranks: "
                  + ", ".join(f"{h} ({s})" for h, s in hosts.items()))
        elif len(argv) in (2, 4) and argv[0] == "slurm-hostfile":
            slots = None
            if len(argv) == 4:
                if argv[2] != "--slots" or not argv[3].isdigit() or int(argv[3]) < 1:
                    raise ConfigError(f"expected --slots N (N >= 1), got {' '.join(argv[2:])!r}")
                slots = int(argv[3])
            hosts = write_slurm_hostfile(argv[1], slots)
            print(f"wrote {argv[1]}: {len(hosts)} nodes, {sum(hosts.values())} ranks", file=sys.stderr)
        else:
            print(__doc__.split("Command line:\n", 1)[1], file=sys.stderr)
            return 2
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
