"""SweepFunction: the scheduled pass over active jobs."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.models.domain import utcnow
from openips.observability import logger, metrics, tracer
from openips.services.deps import get_deps
from openips.services.sweep import sweep


# Sweep results as metrics; JobAccountingDrift has an alarm (template.yaml): a job's counters
# disagreed with its claims, which only a lost or doubled update can cause.
METRICS = {"drift_found": "JobAccountingDrift", "repaired": "JobAccountingRepaired",
           "forced_finish": "JobForcedFinish", "timed_out": "JobIdleTimeout", "finalize_redriven": "FinalizeRedriven",
           "company_failed": "SweepCompanyFailed", "pause_expired": "JobPauseExpired"}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    done = sweep(get_deps(), utcnow())
    for key, name in METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=done.get(key, 0))
    return done
