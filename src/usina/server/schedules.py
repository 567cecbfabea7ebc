"""Routes for schedules and the scheduler lease: ``/api/v1/schedules``,
``/api/v1/schedule-fires``, ``/api/v1/scheduler/lease``. A ``usina scheduler`` pointed at a
server leads, claims ticks and links their runs through them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from usina.server import pipeline_schemas as ps
from usina.server import schemas as s
from usina.server.deps import MAX_PAGE, actor, next_offset, schedules

router = APIRouter(prefix="/api/v1", tags=["schedules"])


@router.post("/schedules", status_code=201, response_model=ps.ScheduleOut)
def create_schedule(
    request: Request, body: ps.ScheduleIn, who: str = Depends(actor)
) -> ps.ScheduleOut:
    """Add a cron schedule for a pipeline (409 if the name is taken)."""
    created = schedules(request, who).create(
        body.name, body.pipeline, body.cron, body.params, body.catchup, body.now
    )
    return ps.schedule_out(created)


@router.get("/schedules", response_model=s.Page[ps.ScheduleOut])
def list_schedules(
    request: Request,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[ps.ScheduleOut]:
    """Schedules by name, with their next tick."""
    found = schedules(request, "anonymous").list()[offset : offset + limit]
    items = [ps.schedule_out(x) for x in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.get("/schedules/{name}", response_model=ps.ScheduleOut)
def get_schedule(request: Request, name: str) -> ps.ScheduleOut:
    """One schedule."""
    return ps.schedule_out(schedules(request, "anonymous").get(name))


@router.post("/schedules/{name}/pause", response_model=ps.ScheduleOut)
def pause_schedule(
    request: Request, name: str, body: ps.NowIn | None = None, who: str = Depends(actor)
) -> ps.ScheduleOut:
    """Stop firing a schedule until it is resumed."""
    now = body.now if body else None
    return ps.schedule_out(schedules(request, who).set_paused(name, True, now))


@router.post("/schedules/{name}/resume", response_model=ps.ScheduleOut)
def resume_schedule(
    request: Request, name: str, body: ps.NowIn | None = None, who: str = Depends(actor)
) -> ps.ScheduleOut:
    """Fire a paused schedule again, from the first tick after ``now`` (missed ticks are not
    run)."""
    now = body.now if body else None
    return ps.schedule_out(schedules(request, who).set_paused(name, False, now))


@router.delete("/schedules/{name}", status_code=204)
def delete_schedule(request: Request, name: str, who: str = Depends(actor)) -> Response:
    """Delete a schedule (its fires and runs stay)."""
    schedules(request, who).delete(name)
    return Response(status_code=204)


@router.get("/schedule-fires", response_model=s.Page[ps.FireOut])
def list_fires(
    request: Request,
    schedule: str | None = Query(None, max_length=256, description="Only this schedule's."),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=2**62),
) -> s.Page[ps.FireOut]:
    """Claimed ticks, oldest first, with the pipeline run each started."""
    found = schedules(request, "anonymous").fires(schedule)[offset : offset + limit]
    items = [ps.FireOut(**f.__dict__) for f in found]
    return s.Page(items=items, next_offset=next_offset(len(items), limit, offset))


@router.post("/scheduler/lease", response_model=ps.LeaseOut)
def acquire_lease(request: Request, body: ps.LeaseIn) -> ps.LeaseOut:
    """Take or renew the scheduler lease; ``held`` says whether ``holder`` leads."""
    held = schedules(request, "anonymous").acquire_lease(body.holder, body.lease_s, body.now)
    return ps.LeaseOut(held=held)


@router.delete("/scheduler/lease/{holder}", status_code=204)
def release_lease(request: Request, holder: str) -> Response:
    """Give the lease back, if ``holder`` has it."""
    schedules(request, "anonymous").release_lease(holder)
    return Response(status_code=204)


@router.post("/schedules/{name}/claims", response_model=ps.ClaimOut)
def claim_tick(request: Request, name: str, body: ps.ClaimIn) -> ps.ClaimOut:
    """Claim a due tick by compare-and-set on the schedule's next tick; ``claimed`` is false
    when another scheduler claimed it first."""
    claimed = schedules(request, "anonymous").claim_tick(
        name, body.expected_next_tick, body.tick, body.upcoming, body.missed, body.holder
    )
    return ps.ClaimOut(claimed=claimed)


@router.post("/schedules/{name}/fires", status_code=204)
def link_fire(request: Request, name: str, body: ps.FireLinkIn) -> Response:
    """Record the pipeline run a claimed tick started."""
    schedules(request, "anonymous").link_fire(name, body.tick, body.pipeline_run_id)
    return Response(status_code=204)
