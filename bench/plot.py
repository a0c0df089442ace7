#!/usr/bin/env python3
"""Plots of one scripts/bench run.

    plot.py RESULTS.json OUTDIR

Writes OUTDIR/bench-echo.png (echo transactions/s and p99 latency against
connections, one column per CPU layout), OUTDIR/bench-memory.png (KiB per
idle connection and per parked thread) and OUTDIR/bench-http.png (the
latency-bound service: requests/s against clients).
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from bench_run import best_echo, load, rows  # noqa: E402

STYLE = {
    "native-threads": ("tab:red", "o"),
    "shim-1-carrier": ("tab:blue", "s"),
    "shim-2-carriers": ("tab:blue", "s"),
    "epoll-1-thread": ("tab:green", "^"),
    "epoll-2-threads": ("tab:green", "^"),
    "shim-private": ("tab:blue", None),
    "shim-shared": ("tab:cyan", None),
}
LAYOUTS = [("same-core", "server + loadgen on CPU 0"),
           ("split", "server on CPU 0, loadgen on CPU 1"),
           ("two-cpus", "server + loadgen on CPUs 0,1")]


def plot_echo(run, out):
    echo = best_echo(run)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharex=True)
    for col, (layout, title) in enumerate(LAYOUTS):
        mine = [r for r in echo if r["layout"] == layout]
        for server in dict.fromkeys(r["server"] for r in mine):
            pts = sorted((r["conns"], r["tps"], r["p99_us"]) for r in mine if r["server"] == server)
            color, marker = STYLE.get(server, ("black", "x"))
            xs = [p[0] for p in pts]
            axes[0][col].plot(xs, [p[1] for p in pts], marker=marker, color=color, label=server)
            axes[1][col].plot(xs, [max(p[2], 1) for p in pts], marker=marker, color=color, label=server)
        axes[0][col].set_title(title)
        axes[0][col].set_ylabel("transactions/s")
        axes[0][col].set_ylim(bottom=0)
        axes[1][col].set_ylabel("p99 latency, us")
        axes[1][col].set_yscale("log")
        axes[1][col].set_xlabel("connections")
        axes[1][col].set_xscale("log")
        ns = sorted(dict.fromkeys(r["conns"] for r in mine))
        axes[1][col].set_xticks(ns, [str(n) for n in ns])
        axes[1][col].minorticks_off()
        axes[1][col].tick_params(axis="x", labelrotation=45)
        axes[0][col].legend(fontsize=8)
        for a in (axes[0][col], axes[1][col]):
            a.grid(True, alpha=0.3)
    fig.suptitle("Echo ping-pong, 8-byte request/response, closed loop (run %s, %s)"
                 % (run["stamp"], run["commit"]))
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench-echo.png"), dpi=80)
    plt.close(fig)


def plot_memory(run, out):
    mem = rows(run, "memory")
    parked = rows(run, "parked")
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 5))
    servers = list(dict.fromkeys(r["server"] for r in mem))
    sizes = sorted(dict.fromkeys(r["conns"] for r in mem))
    width = 0.8 / max(len(servers), 1)
    for k, server in enumerate(servers):
        vals = [next((r["per_conn_kib"] for r in mem if r["server"] == server and r["conns"] == n), 0)
                for n in sizes]
        xs = [i + k * width for i in range(len(sizes))]
        a.bar(xs, vals, width, label=server, color=STYLE.get(server, ("gray", None))[0])
        for x, v in zip(xs, vals):
            a.text(x, v, "%.1f" % v, ha="center", va="bottom", fontsize=8)
    a.set_xticks([i + width * (len(servers) - 1) / 2 for i in range(len(sizes))])
    a.set_xticklabels(["%d conns" % n for n in sizes])
    a.set_ylabel("KiB per idle connection (RSS + page tables + kernel stacks)")
    a.set_title("Echo server holding idle connections")
    a.legend(fontsize=8)
    labels = ["%s\n%d" % (r["mode"], r["threads"]) for r in parked]
    vals = [r["per_thread_kib"] for r in parked]
    b.bar(range(len(vals)), vals, color=[STYLE.get(r["mode"], ("gray", None))[0] for r in parked])
    for i, v in enumerate(vals):
        b.text(i, v, "%.2f" % v, ha="center", va="bottom", fontsize=8)
    b.set_xticks(range(len(vals)))
    b.set_xticklabels(labels, fontsize=8)
    b.set_ylabel("KiB per parked thread (peak RSS + page tables + kernel stacks)")
    b.set_title("Parked threads (manyparked)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench-memory.png"), dpi=80)
    plt.close(fig)


def plot_http(run, out):
    http = rows(run, "http")
    fig, a = plt.subplots(figsize=(7, 5))
    for server in dict.fromkeys(r["server"] for r in http):
        pts = sorted((r["conns"], r["tps"]) for r in http if r["server"] == server)
        color, marker = STYLE.get(server, ("black", "x"))
        a.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color, label=server)
    ideal = sorted(dict.fromkeys((r["conns"], r["ideal_rps"]) for r in http))
    a.plot([p[0] for p in ideal], [p[1] for p in ideal], "k--", label="ideal (clients / 50 ms)")
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("concurrent clients")
    a.set_ylabel("requests/s")
    a.set_title("Thread-per-connection HTTP, handler sleeps 50 ms")
    a.grid(True, alpha=0.3)
    a.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench-http.png"), dpi=80)
    plt.close(fig)


def main():
    run = load(sys.argv[1])
    out = sys.argv[2]
    plot_echo(run, out)
    plot_memory(run, out)
    plot_http(run, out)
    print("  plots: %s/bench-{echo,memory,http}.png" % out)


if __name__ == "__main__":
    main()
