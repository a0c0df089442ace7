#!/usr/bin/env python3
"""Markdown tables of one scripts/bench run, with the ratios the targets
are stated in (docs/benchmarks.md quotes them).

    report.py RESULTS.json
"""
import sys

from bench_run import best_echo, load, rows


def table(head, body):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in body]
    return "\n".join(out)


def echo(run):
    echo = best_echo(run)
    out = []
    for layout in dict.fromkeys(r["layout"] for r in echo):
        mine = [r for r in echo if r["layout"] == layout]
        servers = list(dict.fromkeys(r["server"] for r in mine))
        native, shim, ref = servers  # the order scripts/bench runs them in
        body = []
        for n in sorted(dict.fromkeys(r["conns"] for r in mine)):
            get = {r["server"]: r for r in mine if r["conns"] == n}
            t = {s: get[s]["tps"] for s in servers}
            body.append([n] + ["%.0f" % t[s] for s in servers] +
                        ["%.2f" % (t[shim] / t[ref]) if t[ref] else "-",
                         "%.2f" % (t[shim] / t[native]) if t[native] else "-"] +
                        ["%.0f / %.0f" % (get[s]["p50_us"], get[s]["p99_us"]) for s in servers] +
                        ["" if all(get[s]["ok"] for s in servers) else "errors"])
        r0 = mine[0]
        out.append("**%s** (server CPUs %s, loadgen CPUs %s): transactions/s, ratios, p50 / p99 us\n"
                   % (layout, r0["server_cpus"], r0["client_cpus"]))
        out.append(table(["conns"] + servers + ["shim/epoll", "shim/native"] +
                         ["p50/p99 " + s for s in servers] + [""], body))
        out.append("")
        def per_tx(r):
            if r.get("server_cpu_ms") is None or not r.get("all_transactions"):
                return "-"
            return "%.1f" % (1000 * r["server_cpu_ms"] / r["all_transactions"])
        if any("server_cpu_ms" in r for r in mine):
            body = []
            for n in sorted(dict.fromkeys(r["conns"] for r in mine)):
                get = {r["server"]: r for r in mine if r["conns"] == n}
                body.append([n] + [per_tx(get[s]) for s in servers])
            out.append("server CPU us per transaction (connection setup included):\n")
            out.append(table(["conns"] + servers, body))
            out.append("")
    return "\n".join(out)


def memory(run):
    body = [[r["server"], r["conns"], r["server_fds_open"], r["rss_kib"] - r["rss0_kib"], r["vmpte_kib"] - r["vmpte0_kib"],
             r["threads"], r["kernel_stack_kib"], r["meminfo_kernelstack_delta_kib"], r["per_conn_kib"],
             "" if r.get("ok", True) else "not all held"]
            for r in rows(run, "memory")]
    t1 = table(["server", "conns", "server fds", "RSS growth KiB", "VmPTE growth KiB", "OS threads",
                "kernel stacks KiB (16/thread)", "KernelStack delta KiB", "KiB per conn", ""], body)
    body = [[r["mode"], r["threads"], r["peak_rss_kib"], r["vmpte_kib"], r["os_threads"], r["per_thread_kib"],
             r["times"]] for r in rows(run, "parked")]
    t2 = table(["mode", "threads", "peak RSS KiB", "VmPTE KiB", "OS threads", "KiB per thread", "time"], body)
    return t1 + "\n\n" + t2


def idle(run):
    body = []
    for r in rows(run, "idle"):
        p = r["probe"]
        body.append([r["program"], r["mode"], r["count"], p["window_s"], p["cpu_ms"], p["wakeups"],
                     p["wakeups_per_s"], " ".join("%s:%d" % (w["name"], w["wakeups"]) for w in p["woke"])])
    return table(["program", "mode", "count", "window s", "CPU ms", "wake-ups", "per s", "tasks that woke"], body)


def http(run):
    h = rows(run, "http")
    body = []
    for c in sorted(dict.fromkeys(r["conns"] for r in h)):
        get = {r["server"]: r for r in h if r["conns"] == c}
        nat, shim = get["native-threads"], get["shim-2-carriers"]
        body.append([c, nat["ideal_rps"], "%.0f" % nat["tps"], "%.0f" % shim["tps"],
                     "%.2f" % (shim["tps"] / nat["tps"]) if nat["tps"] else "-",
                     "%.1f / %.1f" % (nat["p50_us"] / 1e3, nat["p99_us"] / 1e3),
                     "%.1f / %.1f" % (shim["p50_us"] / 1e3, shim["p99_us"] / 1e3),
                     share(nat), share(shim)])
    return table(["clients", "ideal req/s", "native req/s", "shim req/s", "shim/native",
                  "native p50/p99 ms", "shim p50/p99 ms", "native ran / waited ms", "shim ran / waited ms"], body)


def share(r):
    s = r.get("server_sched")
    return "%.0f / %.0f in %.1f s" % (s["run_ms"], s["runqueue_wait_ms"], s["window_s"]) if s else "-"


def hooks(run):
    body = [[r["op"], r["native_ns"], r["shim_ns"], r["ratio"]] for r in rows(run, "hooks")]
    return table(["op", "native ns", "shim ns", "shim/native"], body)


def switch(run):
    s = rows(run, "switch")[0]["cohook_bench"]
    f = s["figures"]
    body = [[k, "%.2f" % v["median"], "%.2f" % v["min"], "%.2f" % v["max"]]
            for k, v in f.items() if v and k.startswith("switch")]
    return table(["figure", "median ns", "min ns", "max ns"], body) + \
        "\n\nratio cohook/boost (medians) %.2f, cohook/swapcontext %.3f" % (
            s["switch_ratio_cohook_boost"], s["switch_ratio_cohook_swapcontext"])


def main():
    run = load(sys.argv[1])
    print("run %s, commit %s; machine at start %s; at end %s\n" % (
        run["stamp"], run["commit"], run["machine_at_start"], run["machine_at_end"]))
    for name, f in [("1. switch", switch), ("2. hooks", hooks), ("3. echo", echo), ("4. memory", memory),
                    ("5. idle", idle), ("6. http", http)]:
        print("### " + name + "\n")
        print(f(run))
        print()


if __name__ == "__main__":
    main()
