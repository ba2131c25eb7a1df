"""Inspect AI eval logs imported as runs: a model's answers, sampled elsewhere, graded here.

A log is read as the files Inspect writes (an `.eval` zip of JSON members, packed with
Zstandard, or one `.json` document), under size caps: the product does not depend on Inspect. Every
problem is found before anything is written, and each names where it is (the log member,
or the sample id and epoch) and the field. A valid log becomes one run of the suite whose
samples it holds, on an existing model or on one registered as imported results; the run
then goes to grading exactly as a run sampled here does when its last sample lands.
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from audit import trail
from graders.services import GRADE_BATCH
from interop.conversion import BoundedZip, ZipArchiveError
from occupations.models import Suite, TaskVersion
from runs.models import ModelEndpoint, Run, Sample
from runs.services import (
    GRADE_SAMPLES_TASK,
    check_suite_runnable,
    enqueue,
    finish_sampling_if_done,
)

HEADER_MEMBER = "header.json"
SAMPLES_PREFIX = "samples/"
FAILED_SAMPLE_KIND = "inspect_error"
"""Sample.error_kind of a sample that ended in an error in Inspect."""
MAX_LOG_MEMBERS = 50_000
"""Members an .eval log may hold: a sample each, and Inspect's own few."""
MAX_EPOCHS = 100
"""The most epochs a log may have: as many samples per task as a run started here takes."""
MAX_COUNT = 2**31 - 1
"""The largest token count or latency in milliseconds a sample holds."""
MAX_COST = 10**6
"""A sample's cost must stay under this (its column holds 6 digits before the point)."""


@dataclass
class EvalLogImport:
    """What an eval log import created, or with dry_run what it would create."""

    file_name: str
    dry_run: bool
    eval_id: str = ""
    """Inspect's id of the eval."""
    task: str = ""
    """The Inspect task's name."""
    model: str = ""
    """The model name in the log, e.g. 'openai/gpt-4o'."""
    suite_slug: str = ""
    endpoint_slug: str = ""
    endpoint_created: bool = False
    """The model was (or would be) registered by this import, as imported results."""
    epochs: int = 0
    samples: int = 0
    failed: int = 0
    """Samples that ended in an error in Inspect: recorded as failed, not graded."""
    run: Run | None = None
    problems: list[str] = field(default_factory=list)
    """Every problem found; when there is one, nothing was written."""

    @property
    def imported_from(self) -> str:
        """Run.imported_from of the run: the file and the eval it holds."""
        return f"{self.file_name} (Inspect eval {self.eval_id})"[:300]

    def __str__(self) -> str:
        model = f"model {self.endpoint_slug}" + (
            " (new, imported results)" if self.endpoint_created else ""
        )
        what = (
            f"{self.samples} sample(s) of suite {self.suite_slug} on {model}, "
            f"{self.epochs} epoch(s), {self.failed} failed"
        )
        if self.dry_run:
            return f"Would import {what}; dry run, nothing was written"
        return f"Imported {what} as run #{self.run.pk if self.run else '?'}; grading is queued"


class EvalLogError(ValueError):
    """An eval log that cannot be imported; nothing was written."""

    def __init__(self, report: EvalLogImport) -> None:
        self.report = report
        super().__init__(
            f"{report.file_name}: {len(report.problems)} problem(s):\n"
            + "\n".join(f"- {problem}" for problem in report.problems)
        )


@dataclass
class _LogSample:
    """One sample of the log as read, before it is matched to a task version."""

    label: str
    """Where it is, for messages: 'sample <id> epoch <n>'."""
    data: dict
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int | None = None


@dataclass
class _Log:
    header: dict
    header_label: str
    """How problems in the header name it: the member 'header.json' or the file."""
    samples: list[_LogSample]


def _read_bytes(path_or_file: str | Path | IO[bytes]) -> tuple[str, bytes]:
    if isinstance(path_or_file, str | Path):
        path = Path(path_or_file)
        return path.name, path.read_bytes()
    name = Path(getattr(path_or_file, "name", "") or "eval log").name
    if hasattr(path_or_file, "seek"):
        path_or_file.seek(0)
    return name, path_or_file.read()


def _sample_label(data: Any, fallback: str) -> str:
    if isinstance(data, dict) and "id" in data:
        return f"sample {data.get('id')} epoch {data.get('epoch', '?')}"
    return fallback


def _load_json(raw: bytes, where: str, problems: list[str]) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        problems.append(f"{where}: not valid JSON ({error})")
        return None


def max_unpacked_bytes() -> int:
    """How many bytes the members of one .eval log read may unpack to, in all."""
    return settings.EVALBUILDER_MAX_EVAL_LOG_UNPACKED_BYTES


def read_log(name: str, raw: bytes, problems: list[str]) -> _Log | None:
    """The header and samples of a .eval (zip) or .json log named `name`; None, with
    problems, if the file is neither. Reads Inspect's Zstandard members without Inspect."""
    if raw[:4] == b"PK\x03\x04":
        return _read_eval_zip(name, raw, problems)
    document = _load_json(raw, f"{name}: not an .eval log (zip) and", problems)
    if document is None:
        return None
    if not isinstance(document, dict):
        problems.append(f"{name}: not an Inspect eval log (a JSON object with 'eval')")
        return None
    raw_samples = document.get("samples") or []
    if not isinstance(raw_samples, list):
        problems.append(f"{name}: field 'samples': not a list")
        raw_samples = []
    samples = [
        _LogSample(_sample_label(data, f"{name}: samples[{index}]"), data)
        for index, data in enumerate(raw_samples)
    ]
    header = {key: value for key, value in document.items() if key != "samples"}
    return _Log(header, name, samples)


def _read_eval_zip(name: str, raw: bytes, problems: list[str]) -> _Log | None:
    """The header and samples of an .eval log, each member read under the caps."""
    try:
        archive = BoundedZip(
            raw,
            name,
            max_members=MAX_LOG_MEMBERS,
            member_bytes=settings.EVALBUILDER_MAX_EVAL_LOG_BYTES,
            total_bytes=max_unpacked_bytes(),
        )
    except ZipArchiveError as error:
        problems.append(f"{error}: not a readable .eval log")
        return None
    header_label = f"log member {HEADER_MEMBER!r}"
    try:
        info = archive.members.get(HEADER_MEMBER)
        if info is None:
            problems.append(
                f"{header_label} is missing: the eval did not finish, or the file is not an "
                "Inspect eval log"
            )
            return None
        header = _member_json(archive, info, header_label, problems)
        samples = []
        for member, info in sorted(archive.members.items()):
            if not (member.startswith(SAMPLES_PREFIX) and member.endswith(".json")):
                continue
            where = f"log member {member!r}"
            data = _member_json(archive, info, where, problems)
            if data is not None:
                samples.append(_LogSample(_sample_label(data, where), data))
            if archive.unpacked > archive.total_bytes:
                break  # one refusal is enough: every later member would be refused too
    finally:
        archive.close()
    if not isinstance(header, dict):
        if header is not None:
            problems.append(f"{header_label}: not a JSON object")
        return None
    return _Log(header, header_label, samples)


def _member_json(
    archive: BoundedZip, info: zipfile.ZipInfo, where: str, problems: list[str]
) -> Any:
    try:
        raw = archive.read(info, where)
    except ZipArchiveError as error:
        problems.append(str(error))
        return None
    return _load_json(raw, where, problems)


def _get(data: Any, path: str) -> Any:
    """The value at a dotted path of nested objects, or None."""
    for key in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _moment(value: Any, where: str, path: str, problems: list[str]) -> datetime.datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{where}: field {path!r}: {value!r} is not a date and time")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def _count(data: dict, path: str, where: str, problems: list[str]) -> int:
    """A whole number of the sample (a token count); 0 when absent or not a whole number,
    a problem when larger than a sample can hold."""
    value = _get(data, path)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return 0
    if value > MAX_COUNT:
        problems.append(f"{where}: field {path!r}: {value} is more than {MAX_COUNT:,} tokens")
        return 0
    return value


def _tokens(data: dict, model: str, where: str, problems: list[str]) -> tuple[int, int]:
    """Input and output tokens of the model's answer: its reply's usage, else the model's
    usage over the sample. Cached input counts as input."""
    path = "output.usage"
    if not isinstance(_get(data, path), dict):
        usage = _get(data, "model_usage")
        if not (isinstance(usage, dict) and isinstance(usage.get(model), dict)):
            return 0, 0
        # The model's name may hold dots, so its usage is looked up, not walked to.
        data, path = {"usage": usage[model]}, "usage"
        where = f"{where}: model_usage of {model!r}"
    inputs = sum(
        _count(data, f"{path}.{key}", where, problems)
        for key in ("input_tokens", "input_tokens_cache_read", "input_tokens_cache_write")
    )
    if inputs > MAX_COUNT:
        problems.append(
            f"{where}: field {path!r}: its input tokens add up to more than {MAX_COUNT:,}"
        )
        inputs = 0
    return inputs, _count(data, f"{path}.output_tokens", where, problems)


def _latency_ms(data: dict, where: str, problems: list[str]) -> int | None:
    """How long the sample took, in milliseconds: its working time, else its total time."""
    for key in ("working_time", "total_time"):
        value = data.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            continue
        if not math.isfinite(value):
            problems.append(f"{where}: field {key!r}: {value!r} is not a finite number")
            return None
        latency = round(value * 1000)
        if latency > MAX_COUNT:
            problems.append(
                f"{where}: field {key!r}: {value!r} seconds is longer than a sample can "
                f"record ({MAX_COUNT // 1000:,} seconds)"
            )
            return None
        return latency
    return None


def _resolve_suite(suite: Suite | str | None, log: _Log, problems: list[str]) -> Suite | None:
    named = {
        str(_get(sample.data, "metadata.evalbuilder.suite")): sample
        for sample in log.samples
        if _get(sample.data, "metadata.evalbuilder.suite") is not None
    }
    if suite is not None:
        if isinstance(suite, str):
            found = Suite.objects.filter(slug=suite).first()
            if found is None:
                problems.append(f"suite: there is no suite {suite!r}")
                return None
            suite = found
        for slug, sample in named.items():
            if slug != suite.slug:
                problems.append(
                    f"{sample.label}: field 'metadata.evalbuilder.suite': {slug!r}, not the "
                    f"suite asked for ({suite.slug})"
                )
        return suite
    if not named:
        problems.append(
            "suite: no sample names one (field 'metadata.evalbuilder.suite'): name the suite "
            "the log ran"
        )
        return None
    if len(named) > 1:
        problems.append(
            "field 'metadata.evalbuilder.suite': the samples name several suites "
            f"({', '.join(sorted(map(str, named)))}); a run measures one"
        )
        return None
    slug, sample = next(iter(named.items()))
    found = Suite.objects.filter(slug=str(slug)).first()
    if found is None:
        problems.append(
            f"{sample.label}: field 'metadata.evalbuilder.suite': there is no suite {slug!r}"
        )
    return found


def _resolve_endpoint(
    endpoint: ModelEndpoint | str | None,
    model: str,
    release_date: datetime.date | str | None,
    problems: list[str],
) -> tuple[ModelEndpoint | None, bool]:
    """The endpoint the run goes on, and whether it is new (unsaved)."""
    if endpoint is not None:
        if isinstance(endpoint, str):
            found = ModelEndpoint.objects.filter(slug=endpoint).first()
            if found is None:
                problems.append(f"model: there is no model {endpoint!r}")
            return found, False
        return endpoint, False
    if not model:
        return None, False
    existing = (
        ModelEndpoint.objects.filter(provider=ModelEndpoint.Provider.IMPORTED, model_id=model)
        .order_by("pk")
        .first()
    )
    if existing is not None:
        return existing, False
    if isinstance(release_date, str):
        try:
            release_date = datetime.date.fromisoformat(release_date)
        except ValueError:
            problems.append(f"release date: {release_date!r} is not a date (YYYY-MM-DD)")
            return None, False
    if release_date is None:
        problems.append(
            f"release date: required to register the model {model!r} of this log (its first "
            "import); give its public release date (YYYY-MM-DD), which every trend is drawn on"
        )
        return None, False
    base = slugify(model.replace("/", "-"))[:100] or "imported-model"
    slug, number = base, 1
    while ModelEndpoint.objects.filter(slug=slug).exists():
        number += 1
        slug = f"{base}-{number}"
    new = ModelEndpoint(
        slug=slug,
        display_name=model[:200],
        provider=ModelEndpoint.Provider.IMPORTED,
        model_id=model[:200],
        lab=model.split("/", 1)[0][:100] if "/" in model else "",
        release_date=release_date,
    )
    return new, True


_VERSION_ID = re.compile(r"^(?P<slug>.+)-v(?P<number>\d+)$")


def _match_versions(
    log: _Log, suite: Suite, epochs: int | None, problems: list[str]
) -> list[tuple[_LogSample, TaskVersion, int]]:
    """Each sample with its task version and 0-based attempt; problems for the rest.

    `epochs` is None when the header's is unusable: then no sample is missing, and any
    epoch up to MAX_EPOCHS is one."""
    last_epoch = epochs or MAX_EPOCHS
    versions = {v.pk: v for v in suite.task_versions.select_related("task")}
    by_id = {f"{v.task.slug}-v{v.number}": v for v in versions.values()}
    matched: list[tuple[_LogSample, TaskVersion, int]] = []
    seen: dict[tuple[int, int], str] = {}
    for sample in log.samples:
        data = sample.data
        if not isinstance(data, dict):
            problems.append(f"{sample.label}: not a JSON object")
            continue
        epoch = data.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not 1 <= epoch <= last_epoch:
            problems.append(
                f"{sample.label}: field 'epoch': {epoch!r} is not an epoch of this eval "
                f"(1 to {last_epoch})"
            )
            continue
        wanted = _get(data, "metadata.evalbuilder.task_version")
        if wanted is not None:
            version = versions.get(wanted) if isinstance(wanted, int) else None
            if version is None:
                problems.append(
                    f"{sample.label}: field 'metadata.evalbuilder.task_version': {wanted!r} is "
                    f"not a task version of suite {suite.slug}"
                )
                continue
        else:
            version = by_id.get(str(data.get("id")))
            if version is None:
                problems.append(
                    f"{sample.label}: field 'id': {data.get('id')!r} is not a task version of "
                    f"suite {suite.slug} (sample ids are the task slug and version, e.g. "
                    "'slug-v2', or metadata.evalbuilder.task_version holds the version's id)"
                )
                continue
        key = (version.pk, epoch - 1)
        if key in seen:
            problems.append(f"{sample.label}: a second sample of {version} in epoch {epoch}")
            continue
        seen[key] = sample.label
        output = _get(data, "output.completion")
        if output is not None and not isinstance(output, str):
            problems.append(f"{sample.label}: field 'output.completion': not text")
            continue
        matched.append((sample, version, epoch - 1))
    missing = (
        f"{version} epoch {attempt + 1}"
        for version in sorted(versions.values(), key=lambda v: (v.task.slug, v.number))
        for attempt in range(epochs or 0)
        if (version.pk, attempt) not in seen
    )
    shown = list(itertools.islice(missing, 11))
    if shown:
        more = sum(1 for _ in missing) + len(shown) - 10
        listed = ", ".join(shown[:10]) + (f" and {more} more" if more > 0 else "")
        problems.append(
            f"samples: the log has no sample of {listed}; a run holds every task version of "
            f"suite {suite.slug} in every epoch (held-out tasks too: export the suite with "
            "them to run them)"
        )
    return matched


def _sample_row(run: Run, sample: _LogSample, version: TaskVersion, attempt: int) -> Sample:
    data = sample.data
    error = data.get("error")
    row = Sample(
        run=run,
        task_version=version,
        attempt=attempt,
        status=Sample.Status.DONE,
        output=_get(data, "output.completion") or "",
        input_tokens=sample.input_tokens,
        output_tokens=sample.output_tokens,
        cost=run.endpoint.cost_of(sample.input_tokens, sample.output_tokens),
        latency_ms=sample.latency_ms,
    )
    if error:
        message = error.get("message") if isinstance(error, dict) else str(error)
        row.status = Sample.Status.FAILED
        row.error_kind = FAILED_SAMPLE_KIND
        row.error = str(message or "the sample ended in an error in Inspect")[:5000]
    return row


def _read_numbers(sample: _LogSample, model: str, problems: list[str]) -> None:
    """The sample's token counts and latency, checked to fit what a sample holds."""
    sample.input_tokens, sample.output_tokens = _tokens(sample.data, model, sample.label, problems)
    sample.latency_ms = _latency_ms(sample.data, sample.label, problems)


def import_eval_log(
    path_or_file: str | Path | IO[bytes],
    *,
    suite: Suite | str | None = None,
    endpoint: ModelEndpoint | str | None = None,
    release_date: datetime.date | str | None = None,
    user: Any = None,
    dry_run: bool = False,
) -> EvalLogImport:
    """Import an Inspect eval log (.eval or .json) as a run, graded here; EvalLogError
    with every problem when it cannot be, and then nothing is written.

    `suite` (a Suite or slug) is the one the samples' metadata names when not given;
    `endpoint` (a ModelEndpoint or slug), else the imported-results model of the log's model
    name, registered on its first import with `release_date`. `dry_run` checks everything
    and reports what would be created. `user` is recorded as who imported it.
    """
    name, raw = _read_bytes(path_or_file)
    report = EvalLogImport(file_name=name, dry_run=dry_run)
    problems = report.problems
    log = read_log(name, raw, problems)
    if log is None:
        raise EvalLogError(report)
    where = log.header_label
    header = log.header
    report.eval_id = str(_get(header, "eval.eval_id") or "")
    report.task = str(_get(header, "eval.task") or "")
    report.model = str(_get(header, "eval.model") or "")
    if not report.eval_id:
        problems.append(f"{where}: field 'eval.eval_id': missing")
    if not report.model:
        problems.append(f"{where}: field 'eval.model': missing")
    status = header.get("status")
    if status != "success":
        problems.append(
            f"{where}: field 'status': {status!r}; only an eval that finished (status "
            "'success') can be imported"
        )
    epochs = _get(header, "eval.config.epochs")
    if epochs is None:
        epochs = 1
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        problems.append(f"{where}: field 'eval.config.epochs': {epochs!r} is not a whole number")
        epochs = None
    elif epochs > MAX_EPOCHS:
        problems.append(
            f"{where}: field 'eval.config.epochs': {epochs} is more than the {MAX_EPOCHS} "
            "samples per task a run may take"
        )
        epochs = None
    report.epochs = epochs or 0
    started = _moment(_get(header, "stats.started_at"), where, "stats.started_at", problems)
    completed = _moment(_get(header, "stats.completed_at"), where, "stats.completed_at", problems)
    if not log.samples:
        problems.append(f"{where}: the log holds no samples")

    target_suite = _resolve_suite(suite, log, problems)
    if target_suite is not None:
        report.suite_slug = target_suite.slug
        try:
            check_suite_runnable(target_suite)
        except ValueError as error:
            problems.append(f"suite: {error}")
    matched = (
        _match_versions(log, target_suite, epochs, problems) if target_suite is not None else []
    )
    for sample, _, _ in matched:
        _read_numbers(sample, report.model, problems)
    target, created = _resolve_endpoint(endpoint, report.model, release_date, problems)
    if target is not None:
        for sample, _, _ in matched:
            cost = target.cost_of(sample.input_tokens, sample.output_tokens)
            if cost >= MAX_COST:
                problems.append(
                    f"{sample.label}: field 'output.usage': its tokens cost {cost:,.2f} on "
                    f"model {target.slug}, more than a sample can record"
                )
        report.endpoint_slug, report.endpoint_created = target.slug, created
        if not created:
            earlier = Run.objects.filter(
                endpoint=target, imported_from__endswith=f"(Inspect eval {report.eval_id})"
            ).first()
            if report.eval_id and earlier is not None:
                problems.append(
                    f"{where}: field 'eval.eval_id': eval {report.eval_id} was imported for "
                    f"model {target.slug} already, as run #{earlier.pk}"
                )
    report.samples = len(matched)
    report.failed = sum(1 for sample, _, _ in matched if sample.data.get("error"))
    if problems:
        raise EvalLogError(report)
    if dry_run:
        return report
    assert target_suite is not None and target is not None
    with transaction.atomic():
        if created:
            target.full_clean()
            target.save()
        else:
            # Two imports of one eval at once: the second waits here, then finds the first.
            target = ModelEndpoint.objects.select_for_update().get(pk=target.pk)
            earlier = Run.objects.filter(
                endpoint=target, imported_from__endswith=f"(Inspect eval {report.eval_id})"
            ).first()
            if earlier is not None:
                problems.append(
                    f"{where}: field 'eval.eval_id': eval {report.eval_id} was imported for "
                    f"model {target.slug} already, as run #{earlier.pk}"
                )
                raise EvalLogError(report)
        report.run = _write_run(report, target_suite, target, matched, started, completed, user)
    return report


def _write_run(
    report: EvalLogImport,
    suite: Suite,
    endpoint: ModelEndpoint,
    matched: list[tuple[_LogSample, TaskVersion, int]],
    started: datetime.datetime | None,
    completed: datetime.datetime | None,
    user: Any,
) -> Run:
    """The run and its samples, handed to grading as a run whose last sample has landed."""
    suite.freeze()
    run = Run.objects.create(
        suite=suite,
        endpoint=endpoint,
        samples_per_task=report.epochs,
        planned_samples=len(matched),
        status=Run.Status.RUNNING,
        started_at=started or completed,
        imported_from=report.imported_from,
    )
    rows = Sample.objects.bulk_create(
        [_sample_row(run, sample, version, attempt) for sample, version, attempt in matched]
    )
    done = sorted(row.pk for row in rows if row.status == Sample.Status.DONE)
    for start in range(0, len(done), GRADE_BATCH):
        enqueue(GRADE_SAMPLES_TASK, sample_ids=done[start : start + GRADE_BATCH])
    finish_sampling_if_done(run)
    if completed is not None:
        Run.objects.filter(pk=run.pk).update(sampled_at=completed)
    run.refresh_from_db()
    trail.record(
        trail.Action.IMPORT,
        target=run,
        actor=user,
        details={
            "format": "inspect_eval_log",
            "eval_id": report.eval_id,
            "samples": report.samples,
            "failed": report.failed,
            "endpoint_created": report.endpoint_created,
        },
    )
    return run
