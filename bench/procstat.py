#!/usr/bin/env python3
"""What a process costs while it should be doing nothing, from /proc.

    procstat.py PID SECONDS
    procstat.py --sched PID SECONDS

Samples every task of PID twice, SECONDS apart, and prints one JSON object:
CPU time used in the window (utime+stime of the process, ms), wake-ups per
second (voluntary + nonvoluntary context switches of all its tasks: a
blocked thread that wakes up and blocks again counts one), the tasks that
woke (name and count), and VmRSS/VmPTE/Threads at the end. Zero wake-ups
means no periodic timer, tick or watchdog ran in the window.

--sched: CPU time the process's tasks ran and time they waited runnable on
a run queue in the window (/proc/PID/task/*/schedstat), in ms. On a loaded
machine the kernel shares CPUs per thread, so a process with 2 carriers
waits where one with 10^4 runnable threads gets more turns.
"""
import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def switches(pid):
    """{tid: (comm, voluntary + nonvoluntary switches)} of every task."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue  # the task ended meanwhile
        out[tid] = (st["Name"].strip(),
                    int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"]))
    return out


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    kib = lambda k: int(st[k].split()[0]) if k in st else None
    return {"vmrss_kib": kib("VmRSS"), "vmpte_kib": kib("VmPTE"), "threads": int(st["Threads"])}


def schedstat(pid):
    """{tid: (run ns, run-queue wait ns)} of every task."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run, wait = f.read().split()[:2]
        except OSError:
            continue
        out[tid] = (int(run), int(wait))
    return out


def sched(pid, seconds):
    s0, t0 = schedstat(pid), time.monotonic()
    time.sleep(seconds)
    s1, t1 = schedstat(pid), time.monotonic()
    both = [t for t in s1 if t in s0]
    run = sum(s1[t][0] - s0[t][0] for t in both) / 1e6
    wait = sum(s1[t][1] - s0[t][1] for t in both) / 1e6
    print(json.dumps({"window_s": round(t1 - t0, 3), "run_ms": round(run, 1), "runqueue_wait_ms": round(wait, 1)}))


def main():
    if sys.argv[1] == "--sched":
        return sched(int(sys.argv[2]), float(sys.argv[3]))
    pid, seconds = int(sys.argv[1]), float(sys.argv[2])
    c0, s0, t0 = cpu_ticks(pid), switches(pid), time.monotonic()
    time.sleep(seconds)
    c1, s1, t1 = cpu_ticks(pid), switches(pid), time.monotonic()
    # Reading 10^4 status files takes a while: divide by the real window.
    window = t1 - t0
    woke = []
    for tid, (name, n1) in s1.items():
        if tid in s0 and n1 > s0[tid][1]:
            woke.append({"tid": int(tid), "name": name, "wakeups": n1 - s0[tid][1]})
    total = sum(w["wakeups"] for w in woke)
    out = {"window_s": round(window, 3), "cpu_ms": (c1 - c0) * 1000 / TICK,
           "wakeups": total, "wakeups_per_s": round(total / window, 2),
           "woke": sorted(woke, key=lambda w: -w["wakeups"])[:8]}
    out.update(status(pid))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
