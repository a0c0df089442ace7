"""Reading one scripts/bench run (bench/results/*.json): the part plot.py
and report.py share, so both pick the same rows and the same best rounds."""
import json


def load(path):
    with open(path) as f:
        return json.load(f)


def rows(run, section):
    return [r for r in run["rows"] if r["section"] == section]


def best_echo(run):
    """Echo runs twice per server (rounds in opposite orders): the best."""
    best = {}
    for r in rows(run, "echo"):
        key = (r["layout"], r["conns"], r["server"])
        if key not in best or r["tps"] > best[key]["tps"]:
            best[key] = r
    return list(best.values())
