"""The loop: each tick moves every policy's rollout one decision (or several) further.

::

    idle --N breached windows, cooldown over--> retraining --pipeline fails--> idle
    retraining --gate fails--> idle          retraining --gate passes--> gating
    gating --challenger alias, canary split (or shadow)--> canary
    canary --live figures hold over the window--> watching (champion moved)
    canary --they do not, or too little traffic--> idle (withdrawn, champion keeps traffic)
    watching --live quality below the predecessor's by the margin--> idle (rolled back)
    watching --watch period over--> idle (confirmed)

Each decision is a compare-and-set on the rollout row (``state``, ``generation``) in the
transaction that records its event, so two schedulers take it once. What a decision does
outside the row (move an alias, change an endpoint's split) is done first and is idempotent:
a scheduler killed between the two leaves the row in its old state, and the next tick does the
same again and records it. A rollout found in a state whose facts no longer hold (the
candidate's alias moved by someone else) is abandoned: traffic goes back to the champion alias.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from usina.errors import NotFound, UsinaError
from usina.policies.entities import (
    CANARY,
    GATING,
    IDLE,
    RETRAINING,
    WATCHING,
    Event,
    NewEvent,
    Policy,
    Rollout,
)
from usina.policies.spec import LOWER_IS_BETTER, PolicySpec

log = logging.getLogger("usina.policies")

CHAMPION, CHALLENGER = "champion", "challenger"
MAX_STEPS = 6

Notify = Callable[[Policy, Event], None]


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"


class PolicyEngine:
    """Advances every policy's loop; run it from the scheduler (``tick``), one leader at a time.

    Args:
        client: the installation (``usina.Client``, on a database or a server).
        holder: this engine's name, recorded on a retraining it runs.
        client_for: the client a policy acts through (its service account); ``client`` by
            default.
        notify: called with each event this engine recorded (the monitor's channels).
        max_workers: steps a retraining pipeline runs at once.
    """

    def __init__(
        self,
        client: Any,
        holder: str,
        *,
        client_for: Callable[[str], Any] | None = None,
        notify: Notify | None = None,
        max_workers: int | None = None,
    ) -> None:
        self.client = client
        self.holder = holder
        self.client_for = client_for or (lambda _name: client)
        self.notify = notify
        self.max_workers = max_workers
        self.cursors: dict[str, int] = {}

    def recorded_event(self, policy: str, generation: int) -> Event | None:
        """The event of ``policy``'s transition to ``generation`` (read from the record)."""
        cursor = self.cursors.get(policy, 0)
        while True:
            page = self.client.events.list(policy=policy, after=cursor, limit=1000)
            for e in page:
                cursor = max(cursor, e.id)
                if e.generation == generation:
                    self.cursors[policy] = cursor
                    return e
            if len(page) < 1000:
                self.cursors[policy] = cursor
                return None

    def tick(self, now: float | None = None) -> list[Event]:
        """Move every policy as far as it can go now; the events recorded by this engine."""
        found: list[Event] = []
        try:
            policies = self.client.policies.list()
        except Exception:  # the store is down, say: the scheduler goes on, the next tick retries
            log.exception("policies: the tick could not list the policies")
            return found
        for policy in policies:
            try:
                found.extend(self.advance(policy, now))
            except Exception:  # one policy's failure leaves the others running
                log.exception("policy %s: the tick failed", policy.name)
        return found

    def advance(self, policy: Policy, now: float | None = None) -> list[Event]:
        """Take as many decisions for ``policy`` as are due now."""
        found: list[Event] = []
        for _ in range(MAX_STEPS):
            rollout = self.client.policies.rollout(policy.name)
            step = _Step(self, policy, rollout, time.time() if now is None else now)
            moved = step.run()
            if moved is None:
                break
            found.extend(step.recorded)
        return found


class _Step:
    """One decision on one policy, from the rollout's state."""

    def __init__(self, engine: PolicyEngine, policy: Policy, rollout: Rollout, now: float) -> None:
        self.engine = engine
        self.policy = policy
        self.spec: PolicySpec = policy.spec
        self.rollout = rollout
        self.now = now
        self.acting = engine.client_for(policy.name)
        self.recorded: list[Event] = []

    def run(self) -> Rollout | None:
        handler = {
            IDLE: self.idle,
            RETRAINING: self.retraining,
            GATING: self.gating,
            CANARY: self.canary,
            WATCHING: self.watching,
        }[self.rollout.state]
        return handler()

    # -- helpers --------------------------------------------------------------------------

    def move(self, changes: dict[str, Any], event: NewEvent | None = None) -> Rollout | None:
        r = self.rollout
        moved = self.acting.policies.transition(
            self.spec.name, r.state, r.generation, changes, event
        )
        if moved is None:
            log.info("policy %s: another scheduler took this decision", self.spec.name)
            return None
        if event is not None:
            found = self.engine.recorded_event(self.spec.name, moved.generation)
            if found is not None:
                self.recorded.append(found)
                log.info("policy %s: %s: %s", found.policy, found.kind, found.reason)
                if self.engine.notify is not None:
                    try:
                        self.engine.notify(self.policy, found)
                    except Exception:  # the decision is on the record; say so and go on
                        log.exception("policy %s: event %d not sent", found.policy, found.id)
        return moved

    def champion(self) -> int | None:
        try:
            return int(self.acting.get_version(f"models:/{self.spec.model}@{CHAMPION}").version)
        except NotFound:
            return None

    def set_alias(self, alias: str, version: int, reason: str) -> None:
        """Point ``alias`` at ``version`` unless it already is (a repeated step moves nothing)."""
        try:
            current = self.acting.get_version(f"models:/{self.spec.model}@{alias}").version
        except NotFound:
            current = None
        if current != version:
            self.acting.set_alias(self.spec.model, alias, version, reason)

    def drop_challenger(self, reason: str) -> None:
        with contextlib.suppress(NotFound):
            self.acting.registry.delete_alias(self.spec.model, CHALLENGER, reason)

    def restore_traffic(self) -> None:
        """The endpoint back on the champion alias, with no shadow."""
        endpoint = self.spec.endpoint
        if endpoint is None:
            return
        current = self.acting.endpoints.get(endpoint)
        if current.shadow_version is not None:
            self.acting.endpoints.set_shadow(endpoint, None)
        if current.alias != CHAMPION:
            self.acting.endpoints.follow(endpoint, CHAMPION)

    def reason(self, text: str) -> str:
        return f"policy {self.spec.name}: {text}"

    # -- states ---------------------------------------------------------------------------

    def idle(self) -> Rollout | None:
        from usina.monitoring.monitors import BREACHED, OK

        r, spec = self.rollout, self.spec
        runs = self.engine.client.monitors.history(spec.monitor, limit=100)
        new = sorted(
            (x for x in runs if x.window_end > r.seen_upto and x.status in (OK, BREACHED)),
            key=lambda x: x.window_end,
        )
        if not new:
            return None
        breaches = r.breaches
        texts: list[str] = []
        for run in new:
            breaches = breaches + 1 if run.status == BREACHED else 0
            if run.status == BREACHED:
                texts = [b.get("text", "") for b in run.breaches][:5]
        seen = max(x.window_end for x in new)
        cooled = r.last_retrain is None or self.now - r.last_retrain >= spec.cooldown_s
        if breaches >= spec.after and cooled:
            champion = self.champion()
            return self.move(
                {
                    "state": RETRAINING,
                    "seen_upto": seen,
                    "breaches": 0,
                    "last_retrain": self.now,
                    "holder": self.engine.holder,
                    "since": self.now,
                    "champion": champion,
                    "candidate": None,
                    "data": {},
                },
                NewEvent(
                    "retrain_started",
                    self.reason(
                        f"{breaches} consecutive breached windows of monitor {spec.monitor}: "
                        + "; ".join(texts)
                    ),
                    champion,
                    {"breaches": breaches, "found": texts},
                ),
            )
        if breaches >= spec.after:
            log.info("policy %s: breached, in its cooldown", spec.name)
        return self.move({"seen_upto": seen, "breaches": breaches})

    def retraining(self) -> Rollout | None:
        r, spec = self.rollout, self.spec
        if r.holder != self.engine.holder:
            if self.now - r.since < spec.retrain_timeout_s:
                return None  # another scheduler runs it
            return self.move(
                {"state": IDLE, "holder": None, "since": self.now},
                NewEvent(
                    "abandoned",
                    self.reason(
                        f"the retraining run by {r.holder} did not finish within "
                        f"{spec.retrain_timeout_s:g}s (its scheduler stopped); traffic untouched"
                    ),
                    r.champion,
                ),
            )
        try:
            candidate, figures = self.retrain()
        except Exception as exc:
            log.warning("policy %s: retraining failed", spec.name, exc_info=True)
            return self.move(
                {"state": IDLE, "holder": None, "since": self.now},
                NewEvent(
                    "retrain_failed",
                    self.reason(f"retraining failed, traffic untouched: {_error(exc)}"),
                    r.champion,
                    {"error": _error(exc)},
                ),
            )
        return self.gate(candidate, figures)

    def retrain(self) -> tuple[int, dict[str, Any]]:
        """Run the pipeline on the latest labelled window; the version it registered."""
        from usina.pipelines.loader import load_pipeline
        from usina.pipelines.runner import LocalRunner
        from usina.policies.evaluate import labelled_window

        spec, client = self.spec, self.acting
        before = _latest(client, spec.model)
        params = dict(spec.params)
        figures: dict[str, Any] = {}
        if spec.data_param is not None:
            if spec.endpoint is None:
                raise UsinaError("a data_param needs an endpoint whose labelled traffic to pass")
            from usina.datasets.api import save

            window = labelled_window(
                client, spec.endpoint, self.now - spec.data_window_s, self.now + 1, 1_000_000
            )
            if window.num_rows == 0:
                raise UsinaError(f"no labelled requests of endpoint {spec.endpoint} to train on")
            version = save(window, spec.dataset, client=client)
            params[spec.data_param] = f"datasets:/{spec.dataset}/{version.version}"
            figures["dataset"] = params[spec.data_param]
            figures["rows"] = window.num_rows
        pipeline = load_pipeline(spec.pipeline)
        run = LocalRunner(client, max_workers=self.engine.max_workers).run(
            pipeline, params, trigger=f"policy:{spec.name}"
        )
        figures["pipeline_run"] = run.id
        if not run.ok:
            # A step's error is its traceback: its last line says what went wrong.
            errors = [f"{s.node}: {s.error.strip().splitlines()[-1]}" for s in run.steps if s.error]
            raise UsinaError(f"pipeline run {run.id} {run.status}: {'; '.join(errors)[:500]}")
        after = _latest(client, spec.model)
        if after <= before:
            raise UsinaError(f"pipeline run {run.id} registered no new version of {spec.model}")
        return after, figures

    def gate(self, candidate: int, figures: dict[str, Any]) -> Rollout | None:
        from usina.policies.evaluate import gate, labelled_window

        r, spec, client = self.rollout, self.spec, self.acting
        try:
            tables = []
            if spec.endpoint is not None:
                tables.append(
                    labelled_window(
                        client,
                        spec.endpoint,
                        self.now - spec.data_window_s,
                        self.now + 1,
                        spec.max_rows,
                    )
                )
            if spec.holdout is not None:
                from usina.datasets.api import load

                tables.append(load(spec.holdout, client=client))
            model = client.load_model(f"models:/{spec.model}/{candidate}")
            champion = (
                client.load_model(f"models:/{spec.model}/{r.champion}")
                if r.champion is not None
                else None
            )
            report = gate(spec.rules, model, champion, tables)
        except Exception as exc:  # noqa: BLE001 - a gate that cannot run refuses
            return self.move(
                {"state": IDLE, "holder": None, "candidate": candidate, "since": self.now},
                NewEvent(
                    "gate_failed",
                    self.reason(f"v{candidate} could not be evaluated: {_error(exc)}"),
                    candidate,
                    {**figures, "error": _error(exc)},
                ),
            )
        failed = [x["rule"] for x in report.rules if not x["passed"]]
        details = ", ".join(
            f"{x['rule']} ({_num(x.get('value'))} vs {_num(x.get('bound'))})" for x in report.rules
        )
        figures = {**figures, "gate": report.to_dict(), "champion": r.champion}
        if not report.passed:
            return self.move(
                {"state": IDLE, "holder": None, "candidate": candidate, "since": self.now},
                NewEvent(
                    "gate_failed",
                    self.reason(
                        f"v{candidate} refused on {report.rows} rows, failing "
                        f"{', '.join(failed) or 'data'}: {details}; traffic untouched"
                    ),
                    candidate,
                    figures,
                ),
            )
        return self.move(
            {"state": GATING, "holder": None, "candidate": candidate, "since": self.now},
            NewEvent(
                "gate_passed",
                self.reason(f"v{candidate} passed on {report.rows} rows: {details}"),
                candidate,
                figures,
            ),
        )

    def gating(self) -> Rollout | None:
        r, spec = self.rollout, self.spec
        candidate = r.candidate
        assert candidate is not None
        champion = self.champion()
        if spec.endpoint is None or champion is None:
            # A batch model (its scheduled job resolves the alias), or no champion to share
            # traffic with: the passing candidate becomes champion.
            why = self.reason(f"v{candidate} promoted to {CHAMPION} after its gate")
            self.set_alias(CHAMPION, candidate, why)
            return self.move(
                {"state": IDLE, "since": self.now},
                NewEvent("promoted", why, candidate, {"predecessor": champion}),
            )
        why = self.reason(
            f"v{candidate} on canary: "
            + ("a shadow of every request" if spec.shadow else f"{spec.canary}% of traffic")
            + f" for {spec.window_s:g}s against v{champion}"
        )
        self.set_alias(CHALLENGER, candidate, why)
        if spec.shadow:
            self.acting.endpoints.set_shadow(spec.endpoint, candidate)
        else:
            self.acting.endpoints.split(
                spec.endpoint, {champion: 100 - spec.canary, candidate: spec.canary}
            )
        return self.move(
            {"state": CANARY, "since": self.now, "champion": champion},
            NewEvent("canary_started", why, candidate, {"champion": champion}),
        )

    def canary(self) -> Rollout | None:
        from usina.policies.evaluate import live_figures

        r, spec = self.rollout, self.spec
        candidate, champion = r.candidate, r.champion
        assert candidate is not None and spec.endpoint is not None
        current = self.champion()
        if current == candidate:
            # Promoted by a scheduler that stopped before recording it: record it now.
            why = self.reason(f"v{candidate} promoted to {CHAMPION} (completed after a restart)")
            self.drop_challenger(why)
            self.restore_traffic()
            return self.move(
                {"state": WATCHING, "since": self.now},
                NewEvent("promoted", why, candidate, {"predecessor": champion}),
            )
        if current != champion:
            why = self.reason(
                f"canary of v{candidate} abandoned: {CHAMPION} moved to v{current} meanwhile; "
                f"traffic back on {CHAMPION}"
            )
            self.restore_traffic()
            self.drop_challenger(why)
            return self.move(
                {"state": IDLE, "since": self.now}, NewEvent("abandoned", why, candidate)
            )
        elapsed = self.now - r.since
        if elapsed < spec.window_s:
            return None
        figures = live_figures(self.acting, spec.endpoint, r.since, self.now + 1)
        champ = figures.get(champion, {}) if champion is not None else {}
        if spec.shadow:  # the candidate answered copies: its shadow answers are its figures
            figures = live_figures(self.acting, spec.endpoint, r.since, self.now + 1, shadow=True)
        cand = figures.get(candidate, {})
        seen = cand.get("requests", 0.0)
        enough = seen >= spec.min_requests and (
            spec.metric not in champ or cand.get("labelled", 0.0) >= spec.min_requests
        )
        report = {"candidate": cand, "champion": champ, "seconds": elapsed}
        if not enough:
            if elapsed < spec.patience * spec.window_s:
                return None
            return self.withdraw(
                f"v{candidate} withdrawn: {int(seen)} requests in {elapsed:.0f}s, fewer than "
                f"{spec.min_requests}; v{champion} keeps all traffic",
                report,
            )
        ok, why = _holds(spec, cand, champ)
        if not ok:
            return self.withdraw(
                f"v{candidate} withdrawn: {why}; v{champion} keeps all traffic", report
            )
        text = self.reason(
            f"v{candidate} promoted to {CHAMPION} (was v{champion}): {why} over {int(seen)} "
            "requests"
        )
        self.set_alias(CHAMPION, candidate, text)
        self.drop_challenger(text)
        self.restore_traffic()
        return self.move(
            {"state": WATCHING, "since": self.now, "data": {"predecessor": champ}},
            NewEvent("promoted", text, candidate, {**report, "predecessor": champion}),
        )

    def withdraw(self, text: str, report: dict[str, Any]) -> Rollout | None:
        why = self.reason(text)
        self.restore_traffic()
        self.drop_challenger(why)
        return self.move(
            {"state": IDLE, "since": self.now},
            NewEvent("withdrawn", why, self.rollout.candidate, report),
        )

    def watching(self) -> Rollout | None:
        from usina.policies.evaluate import live_figures

        r, spec = self.rollout, self.spec
        promoted, predecessor = r.candidate, r.champion
        assert promoted is not None and spec.endpoint is not None
        if self.champion() != promoted:
            return self.move(
                {"state": IDLE, "since": self.now},
                NewEvent(
                    "abandoned",
                    self.reason(f"watch of v{promoted} ended: {CHAMPION} was moved by hand"),
                    promoted,
                ),
            )
        if self.now - r.since >= spec.watch_s:
            return self.move(
                {"state": IDLE, "since": self.now},
                NewEvent(
                    "confirmed",
                    self.reason(f"v{promoted} held through its {spec.watch_s:g}s watch period"),
                    promoted,
                ),
            )
        before = (r.data or {}).get("predecessor") or {}
        start = max(r.since, self.now - spec.window_s)
        now = live_figures(self.acting, spec.endpoint, start, self.now + 1).get(promoted, {})
        value, old = now.get(spec.metric), before.get(spec.metric)
        if value is None or old is None or now.get("labelled", 0.0) < spec.min_requests:
            return None
        lower = spec.metric in LOWER_IS_BETTER
        worse = value > old + spec.rollback_margin if lower else value < old - spec.rollback_margin
        if not worse or predecessor is None:
            return None
        text = self.reason(
            f"v{promoted} rolled back to v{predecessor}: live {spec.metric} {_num(value)} is "
            f"below its predecessor's {_num(old)} by more than {spec.rollback_margin:g} "
            f"(over {int(now.get('labelled', 0))} labelled requests)"
        )
        self.set_alias(CHAMPION, predecessor, text)
        self.restore_traffic()
        return self.move(
            {"state": IDLE, "since": self.now},
            NewEvent(
                "rolled_back",
                text,
                predecessor,
                {
                    "promoted": promoted,
                    "live": now,
                    "predecessor": before,
                    "window_s": self.now - start,
                },
            ),
        )


def _holds(spec: PolicySpec, cand: dict[str, float], champ: dict[str, float]) -> tuple[bool, str]:
    """Whether the candidate's live figures hold against the champion's, and why (text)."""
    parts = []
    errors, base = cand.get("error_rate", 0.0), champ.get("error_rate", 0.0)
    if errors > base + 0.01:
        return False, f"error rate {errors:.2%} against the champion's {base:.2%}"
    parts.append(f"error rate {errors:.2%}")
    value, old = cand.get(spec.metric), champ.get(spec.metric)
    if value is not None and old is not None:
        lower = spec.metric in LOWER_IS_BETTER
        worse = value > old + spec.margin if lower else value < old - spec.margin
        text = f"{spec.metric} {_num(value)} against the champion's {_num(old)}"
        if worse:
            return False, text
        parts.append(text)
    return True, ", ".join(parts)


def _latest(client: Any, model: str) -> int:
    try:
        found = client.registry.list_versions(model, limit=1)
    except NotFound:
        return 0
    return int(found[0].version) if found else 0


def _error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, UsinaError) else f"{type(exc).__name__}: {text}"
