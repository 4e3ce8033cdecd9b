"""Scoring scenario runs: per-scenario success counts and pass^k.

pass^k (tau-bench) is the chance that *all* of k independent trials of a scenario succeed, estimated
without bias from n >= k trials with c successes as C(c, k) / C(n, k), averaged over scenarios.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from math import comb

from envsim.errors import EnvsimError
from envsim.recording.trace import EpisodeStatus, Trace
from envsim.scenarios.expectations import all_passed


def trace_passed(trace: Trace) -> bool:
    """An episode passes when it ran to the end (status success) and every expectation held."""
    return trace.status is EpisodeStatus.SUCCESS and all_passed(trace.checks)


def pass_hat_k(results: Mapping[str, Sequence[bool]], k: int) -> float:
    """Mean over scenarios of C(c, k) / C(n, k), with n trials and c successes per scenario.

    Every scenario needs at least k trials (otherwise the estimate is undefined)."""
    if k < 1:
        raise EnvsimError(f"pass^k needs k >= 1, got {k}")
    if not results:
        raise EnvsimError("pass^k of no scenarios is undefined")
    total = 0.0
    for scenario, outcomes in results.items():
        n, c = len(outcomes), sum(1 for ok in outcomes if ok)
        if n < k:
            raise EnvsimError(
                f"scenario {scenario!r} has {n} trial(s), fewer than k={k}",
                hint=f"run with --trials {k} or more, or report pass^k for a smaller k",
            )
        total += comb(c, k) / comb(n, k)
    return total / len(results)


@dataclass(frozen=True)
class ScenarioScore:
    scenario_id: str
    trials: int
    successes: int
    failures: list[str]  # one line per failed trial: the first failed check or the episode error


@dataclass(frozen=True)
class Evaluation:
    scores: list[ScenarioScore]
    pass_hat: dict[int, float]  # k -> pass^k, for k = 1..min trials

    @property
    def passed(self) -> bool:
        return all(s.successes == s.trials for s in self.scores)


def failure_reason(trace: Trace) -> str:
    if trace.status is not EpisodeStatus.SUCCESS:
        return f"episode failed ({trace.termination.value}): {trace.error}"
    failed = [c for c in trace.checks or [] if not c.passed]
    return f"{failed[0].kind}: {failed[0].reason}" if failed else ""


def evaluate_traces(traces: Iterable[Trace]) -> Evaluation:
    """Group traces by scenario (trials), count successes and compute pass^k for every k all share."""
    outcomes: dict[str, list[bool]] = {}
    failures: dict[str, list[str]] = {}
    for trace in traces:
        scenario = trace.scenario_id or trace.episode_id
        ok = trace_passed(trace)
        outcomes.setdefault(scenario, []).append(ok)
        if not ok:
            failures.setdefault(scenario, []).append(f"trial {trace.trial}: {failure_reason(trace)}")
    scores = [
        ScenarioScore(scenario, len(results), sum(results), failures.get(scenario, []))
        for scenario, results in sorted(outcomes.items())
    ]
    max_k = min((s.trials for s in scores), default=0)
    pass_hat = {k: pass_hat_k(outcomes, k) for k in range(1, max_k + 1)}
    return Evaluation(scores=scores, pass_hat=pass_hat)
