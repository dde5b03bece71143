"""Prometheus metrics (``kanmin_*``) in a registry of their own per app."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from assistant.schema import Answer


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("kanmin_http_requests", "HTTP requests by route template, method and status",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("kanmin_http_request_duration_seconds", "HTTP request latency by route",
                                 ["method", "route"], registry=r,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.answers = Counter("kanmin_answers", "Answers by router route, mode and front door",
                               ["route", "mode", "source"], registry=r)
        self.abstentions = Counter("kanmin_abstentions", "Answers that abstained", ["source"], registry=r)
        self.fallbacks = Counter("kanmin_fallbacks", "Generative answers that fell back to extractive",
                                 ["source"], registry=r)
        self.unsaved = Counter("kanmin_answers_unsaved", "Answers given while the state database was unreachable "
                               "(not stored; the response says saved=false)", ["source"], registry=r)
        self.feedback = Counter("kanmin_feedback", "Feedback received", ["rating", "source"], registry=r)
        self.rate_limited = Counter("kanmin_rate_limited", "Requests refused by the rate limiter", registry=r)
        self.slack_events = Counter("kanmin_slack_events", "Slack requests by kind and outcome",
                                    ["kind", "outcome"], registry=r)
        self.ready = Gauge("kanmin_ready", "1 when the guide and index are loaded and verified", registry=r)
        # many waits at normal load: more answer slots may help (KANMIN_ANSWER_THREADS, docs/deploy.md)
        self.slot_waits = Counter("kanmin_answer_slot_waits", "Extractive answers that found every answer "
                                  "slot of their worker taken and waited for one", registry=r)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_answer(self, answer: Answer, source: str) -> None:
        self.answers.labels(answer.route, answer.mode, source).inc()
        if answer.abstained:
            self.abstentions.labels(source).inc()
        if answer.fallback:
            self.fallbacks.labels(source).inc()
        if not answer.saved:
            self.unsaved.labels(source).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
