# Where a process waited: the off-CPU time of libbpf-tools' `offcputime -p
# PID` (multi-line stacks, microseconds per stack) split by the system call
# each wait happened in -- the kernel frame __x64_sys_NAME (or __arm64_sys_)
# names it. A thread that was still runnable when it left the CPU -- preempted
# at an irq or syscall exit, at a cond_resched() inside a long syscall, or
# giving the CPU away with sched_yield -- did not wait: that is CPU sharing,
# reported apart (runnable_ms, of which yield_ms in sched_yield) and left out
# of the shares, like page faults (fault_ms).
# The shim's own threads (named cohook-*: the offload pool, the stall
# watchdog) are reported apart too (helper_ms): they sleep in futex by design
# and never run the program's connections.
# Prints one line of KEY=VALUE words for the tracing tests:
#   blocked_ms epoll_pct recvfrom_pct poll_pct futex_pct other_pct
#   top (the three biggest syscalls, NAME:PCT,...) runnable_ms yield_ms fault_ms
#   helper_ms helper_threads threads missed
# epoll is epoll_wait + epoll_pwait + epoll_pwait2; recvfrom counts recvmsg
# and recvmmsg too; poll counts poll, ppoll, select and pselect6. missed is
# the number of stacks whose kernel part was lost (stack map full).
# Usage: python3 offcpu_split.py OFFCPUTIME_OUTPUT
import collections
import re
import sys

SYSCALL = re.compile(r"^__(?:x64|arm64|ia32|do)_sys_(\w+)$")
OWNER = re.compile(r"^-\s+(.*) \((\d+)\)$")
GROUPS = {
    "epoll": {"epoll_wait", "epoll_pwait", "epoll_pwait2"},
    "recvfrom": {"recvfrom", "recvmsg", "recvmmsg"},
    "poll": {"poll", "ppoll", "select", "pselect6"},
    "futex": {"futex", "futex_waitv"},
}
HELPER_PREFIX = "cohook-"
# Frames of a switch that leaves the task runnable (no wait).
PREEMPTION = ("__cond_resched", "preempt_schedule", "irqentry_exit", "exit_to_user_mode_loop")


def stacks(text):
    """(frames, comm, tid, microseconds) per stack printed by offcputime."""
    for block in text.split("\n\n"):
        lines = [l.strip() for l in block.strip().splitlines() if l.strip()]
        if len(lines) < 2 or not lines[-1].isdigit():
            continue
        owner = OWNER.match(lines[-2])
        if not owner:
            continue
        yield lines[:-2], owner.group(1).strip(), int(owner.group(2)), int(lines[-1])


def kind(frames):
    if any(f.startswith(PREEMPTION) for f in frames[:6]):
        return "(preempted)"
    for f in frames:
        m = SYSCALL.match(f)
        if m:
            return "(yield)" if m.group(1) == "sched_yield" else m.group(1)
    if any("page_fault" in f for f in frames):
        return "(fault)"
    return "(preempted)"


def main():
    text = open(sys.argv[1], errors="replace").read()
    by_call = collections.Counter()
    preempted = yielded = fault = helper = 0
    threads, helper_threads = set(), set()
    for frames, comm, tid, us in stacks(text):
        what = kind(frames)
        if comm.startswith(HELPER_PREFIX):
            helper += us
            helper_threads.add(tid)
        elif what == "(preempted)":
            preempted += us
        elif what == "(yield)":
            yielded += us
        elif what == "(fault)":
            fault += us
        else:
            by_call[what] += us
            threads.add(tid)
    blocked = sum(by_call.values())

    def pct(n):
        return f"{100.0 * n / blocked:.1f}" if blocked else "0.0"

    words = {"blocked_ms": f"{blocked / 1000:.0f}"}
    grouped = 0
    for group, calls in GROUPS.items():
        n = sum(v for k, v in by_call.items() if k in calls)
        grouped += n
        words[group + "_pct"] = pct(n)
    words["other_pct"] = pct(blocked - grouped)
    words["top"] = ",".join(f"{k}:{pct(v)}" for k, v in by_call.most_common(3)) or "-"
    words["runnable_ms"] = f"{(preempted + yielded) / 1000:.0f}"
    words["yield_ms"] = f"{yielded / 1000:.0f}"
    words["fault_ms"] = f"{fault / 1000:.0f}"
    words["helper_ms"] = f"{helper / 1000:.0f}"
    words["helper_threads"] = str(len(helper_threads))
    words["threads"] = str(len(threads))
    words["missed"] = str(text.count("[Missed Kernel Stack]"))
    print(" ".join(f"{k}={v}" for k, v in words.items()))


if __name__ == "__main__":
    main()
