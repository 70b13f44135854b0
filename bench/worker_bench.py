"""End-to-end updates/s of one worker process through the real broker, beside a bare aiokafka consumer.

    python bench/worker_bench.py [--batched-updates 300000] [--single-updates 100000] [--accounts 1000]

Beside each worker run, `bench/faust_noop_app.py` (a Faust agent that acknowledges each message and
does nothing else) reads the same topic under its own group and is measured the same way: what
Faust's per-message stream costs on this machine (`--no-faust-floor` skips it).

Two modes, each on fresh topics and a fresh consumer group: `batched` (100 updates per message, a
JSON array, keyed and partitioned as `dipwatch produce --batch 100` does) and `single` (one update
per message). For each mode the updates are produced first, then

* a bare AIOKafkaConsumer (no group, nothing decoded) reads the input topic from the beginning:
  the floor set by the broker and the client library on this machine;
* one worker (`python -m faust -A streams.worker worker`) per store in --stores (the default store
  rocksdb:// first, then memory://; each under its own group, data dir in a temp dir) starts on the
  full topic. Its /metrics `dipwatch_updates` counter and its consumer group's
  committed offsets (kafka-python's admin client) are polled until every end offset is committed.
  The worker figure is the updates counted between the first poll that saw the counter move and the
  poll that saw every update counted, over the time between those polls: the steady state, Faust's
  start-up and rebalance excluded. The counter, not the commits, because the worker acknowledges
  input once per checkpoint (up to 5 s), so commits arrive in steps too coarse for a short run.
  Reported beside it: the committed-offset rate over the same kind of span, and the end-to-end
  rates from the poll that first saw Faust log "[^Worker]: Ready" and from the worker's start.

Faust commits every `broker_commit_interval` (2.8 s by default), which would blur the end time by
that much; the worker gets BROKER_COMMIT_INTERVAL=--commit-interval (0.5 s) from its environment
(0 keeps Faust's default). Peak RSS is /proc/<pid>/status VmHWM; per series it is the peak less
the RSS when the worker logged Ready, over the series in the input.

Prints a table; `--json` prints the figures. Starts the local broker with deploy/local/services.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as AioTopicPartition
from kafka import KafkaAdminClient, KafkaProducer
from rich.console import Console
from rich.table import Table

from streams.cli.live import create_topics, keyed_messages
from streams.formats.codec import decode_line
from streams.engine import Update
from streams.settings import KafkaSettings
from streams.offline.simulate import SimulationSpec, simulate

REPO = Path(__file__).resolve().parents[1]
BATCH = 100
TARGETS = {"batched": 200_000, "single": 20_000}  # issue 12, one core, default store
METHOD_COUNTER = ("updates counted by the worker's own dipwatch_updates counter after the first poll that saw it "
                  "move, over the time from that poll to the poll that saw every update counted; the run ends "
                  "only when the group has committed every end offset.")  # fmt: skip
METHOD_COMMITS = ("updates committed after the first poll that saw the group commit, over the time from that poll "
                  "to the poll that saw every end offset committed (Faust's start-up and rebalance excluded).")  # fmt: skip
#: Simulated updates per account and hour (~3 series per account, one poll a minute): sizes the run.
_UPDATES_PER_ACCOUNT_HOUR = 150
_CLK_TCK = os.sysconf("SC_CLK_TCK")

console = Console(stderr=True)


# -- the machine ---------------------------------------------------------------------------------


def ensure_broker() -> None:
    result = subprocess.run(["bash", str(REPO / "deploy/local/services.sh"), "up", "kafka"],
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"services.sh up kafka failed:\n{result.stderr[-2000:]}")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def system_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process, all threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def status_kb(pid: int, name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the input -----------------------------------------------------------------------------------


def make_updates(accounts: int, hours: float | None, needed: int) -> list[bytes]:
    """At least `needed` well-formed update lines from the simulation, in arrival order."""
    hours = hours or math.ceil(needed / (accounts * _UPDATES_PER_ACCOUNT_HOUR) * 1.15 * 4) / 4
    while True:
        lines = simulate(SimulationSpec(seed=7, accounts=accounts, hours=hours)).lines
        good = [line for line in lines if type(decode_line(line)) is Update]
        if len(good) >= needed:
            return good
        hours = hours * needed / max(len(good), 1) * 1.1


@dataclass
class Produced:
    messages: int
    updates: int
    series: int
    ends: dict[int, int]  # partition -> end offset
    cumulative: dict[int, list[int]]  # partition -> updates in offsets [0, i)
    seconds: float

    def updates_before(self, offsets: dict[int, int]) -> int:
        """Updates in the messages below these committed offsets (a committed offset is the next to read)."""
        return sum(cum[min(max(offsets.get(p, 0), 0), len(cum) - 1)] for p, cum in self.cumulative.items())


def produce(kafka: KafkaSettings, lines: list[bytes], batch: int) -> Produced:
    """Send as `dipwatch produce` does (same keys, same batches); record where each message landed."""
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", linger_ms=20,
                             batch_size=512 * 1024, max_request_size=8 * 1024 * 1024)  # fmt: skip
    started = time.perf_counter()
    sent = [(producer.send(kafka.input_topic, key=key, value=value), count)
            for key, value, count in keyed_messages(lines, batch, kafka.partitions)]  # fmt: skip
    producer.flush()
    seconds = time.perf_counter() - started
    producer.close()
    per_partition: dict[int, dict[int, int]] = {p: {} for p in range(kafka.partitions)}
    for future, count in sent:
        metadata = future.get(timeout=30)
        per_partition[metadata.partition][metadata.offset] = count
    cumulative, ends = {}, {}
    for partition, counts in per_partition.items():
        end = max(counts, default=-1) + 1
        if len(counts) != end:
            raise SystemExit(f"partition {partition}: offsets are not contiguous from 0 (a fresh topic?)")
        running = [0]
        for offset in range(end):
            running.append(running[-1] + counts[offset])
        cumulative[partition], ends[partition] = running, end
    series = len({decode_line(line).key for line in lines})  # type: ignore[union-attr]
    return Produced(len(sent), len(lines), series, ends, cumulative, seconds)


# -- the bare consumer ---------------------------------------------------------------------------


async def _bare_consume(kafka: KafkaSettings, ends: dict[int, int], deadline_s: float) -> tuple[int, float]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        parts = [AioTopicPartition(kafka.input_topic, p) for p in ends]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        remaining = {tp for tp in parts if ends[tp.partition] > 0}
        messages = 0
        started = time.perf_counter()
        while remaining:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                messages += len(records)
                if records and records[-1].offset + 1 >= ends[tp.partition]:
                    remaining.discard(tp)
            if time.perf_counter() - started > deadline_s:
                raise SystemExit(f"bare consumer: not at the end after {deadline_s:.0f}s")
        return messages, time.perf_counter() - started
    finally:
        await consumer.stop()


def bare_consume(kafka: KafkaSettings, produced: Produced, deadline_s: float) -> dict[str, Any]:
    messages, seconds = asyncio.run(_bare_consume(kafka, produced.ends, deadline_s))
    return {"seconds": round(seconds, 3), "messages": messages,
            "messages_per_s": round(messages / seconds), "updates_per_s": round(produced.updates / seconds)}  # fmt: skip


# -- the worker ----------------------------------------------------------------------------------


def committed_offsets(admin: KafkaAdminClient, group: str, topic: str) -> dict[int, int]:
    if hasattr(admin, "list_consumer_group_offsets"):  # kafka-python 2.x
        offsets = admin.list_consumer_group_offsets(group)
    else:  # kafka-python 3.x renamed it
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    return {tp.partition: om.offset for tp, om in offsets.items() if tp.topic == topic and om.offset >= 0}


class MetricsPageBroken(Exception):
    """The worker's /metrics/ page answers with an error: stop asking (each failure logs a traceback)."""


def scrape_updates(port: int) -> int | None:
    """The worker's `dipwatch_updates_total`, or None while its web server is not up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/", timeout=1) as response:
            body = response.read().decode()
    except urllib.error.HTTPError as error:
        raise MetricsPageBroken(f"HTTP {error.code}") from error
    except OSError:
        return None
    for line in body.splitlines():
        if line.startswith("dipwatch_updates_total "):
            return int(float(line.split()[1]))
    return None


@dataclass
class Mark:
    """One poll of the worker: when, and what it had done by then."""

    t: float
    updates: int
    cpu_s: float | None
    system: tuple[int, int]


@dataclass
class WorkerRun:
    started: float = 0.0
    ready: Mark | None = None  # the poll that first saw Faust log "[^Worker]: Ready": consuming starts
    first_commit: Mark | None = None
    end: Mark | None = None
    first_counted: Mark | None = None
    all_counted: Mark | None = None
    metrics_page: str = "ok"
    rss_ready_kb: int | None = None
    hwm_kb: int | None = None
    loads: list[float] = field(default_factory=list)
    timed_out: bool = False


def start_worker(kafka: KafkaSettings, data_dir: Path, port: int, commit_interval: float,
                 log_path: Path, profile: Path | None, app: str = "streams.worker",
                 store: str = "memory://", producer_linger: float = 0.0) -> subprocess.Popen[bytes]:  # fmt: skip
    env = dict(os.environ)
    for name, value in kafka.model_dump().items():
        env[f"DIPWATCH_KAFKA__{name.upper()}"] = str(value)
    env.update(DIPWATCH_WORKER__STORE=store, DIPWATCH_WORKER__DATA_DIR=str(data_dir),
               DIPWATCH_WORKER__WEB_PORT=str(port))  # fmt: skip
    if commit_interval > 0:
        env["BROKER_COMMIT_INTERVAL"] = str(commit_interval)
    if producer_linger > 0:  # Faust reads both from the environment; the worker's defaults send at once
        env.update(PRODUCER_LINGER=str(producer_linger), PRODUCER_MAX_BATCH_SIZE=str(1 << 20))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "bench"), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "faust", "-A", app, "worker", "-l", "info"]
    if profile is not None:
        command[1:1] = ["-m", "cProfile", "-o", str(profile)]
    with log_path.open("wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def watch_worker(kafka: KafkaSettings, produced: Produced, worker: subprocess.Popen[bytes], port: int,
                 started: float, deadline_s: float, poll_s: float, log_path: Path) -> WorkerRun:  # fmt: skip
    """Poll committed offsets (and the updates counter) until the group has committed every offset."""
    run = WorkerRun(started=started)
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    log_seen = 0
    try:
        while True:
            offsets = committed_offsets(admin, kafka.group_id, kafka.input_topic)
            counted = None
            if run.metrics_page == "ok":
                try:
                    counted = scrape_updates(port)
                except MetricsPageBroken as error:
                    run.metrics_page = str(error)
            mark = Mark(time.monotonic(), produced.updates_before(offsets), process_cpu_s(worker.pid), system_cpu())
            run.loads.append(loadavg())
            if run.ready is None:
                with log_path.open("rb") as log:
                    log.seek(max(log_seen - 64, 0))
                    chunk = log.read()
                    log_seen = log.tell()
                if b"[^Worker]: Ready" in chunk:
                    run.ready, run.rss_ready_kb = mark, status_kb(worker.pid, "VmRSS")
            if counted and run.first_counted is None:
                run.first_counted = Mark(mark.t, counted, mark.cpu_s, mark.system)
            if counted is not None and counted >= produced.updates and run.all_counted is None:
                run.all_counted = Mark(mark.t, counted, mark.cpu_s, mark.system)
            if offsets and run.first_commit is None:
                run.first_commit = mark
            reached = all(offsets.get(p, 0) >= end for p, end in produced.ends.items())
            if reached or mark.t - started > deadline_s:
                run.end, run.timed_out = mark, not reached
                run.hwm_kb = status_kb(worker.pid, "VmHWM")
                return run
            if worker.poll() is not None:
                text = log_path.read_text(errors="replace")
                crash = text.find("Traceback")  # the first traceback says why; Faust's shutdown follows it
                tail = text[crash : crash + 3000] if crash >= 0 else text[-3000:]
                raise SystemExit(f"the worker exited with {worker.returncode} before the end:\n{tail}")
            time.sleep(poll_s)
    finally:
        admin.close()


def _rate(updates: int, seconds: float) -> int | None:
    return round(updates / seconds) if seconds > 0 else None


def worker_figures(produced: Produced, run: WorkerRun) -> dict[str, Any]:
    end, first, ready = run.end, run.first_commit, run.ready
    figures: dict[str, Any] = {"timed_out": run.timed_out, "updates_committed": end.updates if end else 0}
    if end is None or first is None:
        return figures | {"updates_per_s": None}
    commit_span = end.t - first.t
    figures |= {
        "committed_updates_per_s": _rate(end.updates - first.updates, commit_span),
        "first_commit_after_start_s": round(first.t - run.started, 3),
        "updates_committed_at_first_commit": first.updates,
        "seconds_from_start": round(end.t - run.started, 3),
        "updates_per_s_from_start": _rate(end.updates, end.t - run.started),
        "metrics_page": run.metrics_page,
    }
    if ready is not None:
        figures["ready_after_start_s"] = round(ready.t - run.started, 3)
        figures["updates_per_s_from_ready"] = _rate(end.updates, end.t - ready.t)
    # The steady-state figure: the worker's own counter when its page answers (checkpoints make
    # commits arrive in steps of up to checkpoint_interval_s), else committed offsets.
    counted = run.first_counted and run.all_counted and run.all_counted.t > run.first_counted.t
    if counted:
        since, until, updates = run.first_counted, run.all_counted, produced.updates - run.first_counted.updates
        figures["measured"] = METHOD_COUNTER
    else:
        since, until, updates = first, end, end.updates - first.updates
        figures["measured"] = METHOD_COMMITS
    span = until.t - since.t
    figures |= {"updates_measured": updates, "seconds": round(span, 3), "updates_per_s": _rate(updates, span)}
    if since.cpu_s is not None and until.cpu_s is not None and span > 0:
        figures["worker_cpu_cores_busy"] = round((until.cpu_s - since.cpu_s) / span, 2)
    busy, total = until.system[0] - since.system[0], until.system[1] - since.system[1]
    if total > 0:
        figures["machine_cpu_busy_pct"] = round(100 * busy / total, 1)
    if run.hwm_kb is not None:
        figures["peak_rss_mb"] = round(run.hwm_kb / 1024, 1)
        figures["peak_rss_per_series_kb"] = round(run.hwm_kb / produced.series, 1)
        if run.rss_ready_kb is not None:
            figures["rss_at_ready_mb"] = round(run.rss_ready_kb / 1024, 1)
            figures["rss_growth_per_series_kb"] = round((run.hwm_kb - run.rss_ready_kb) / produced.series, 1)
    if run.loads:
        figures["load_1min_max"] = max(run.loads)
    return figures


# -- one mode ------------------------------------------------------------------------------------


def delete_run(kafka: KafkaSettings, suffix: str) -> None:
    """Every topic named with this run's suffix (Faust's changelog and assignor topics too) and the group."""
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:
        ours = [name for name in admin.list_topics() if suffix in name]
        if ours:
            admin.delete_topics(ours, raise_errors=False)
        admin.delete_groups([kafka.group_id])
    except Exception as error:  # noqa: BLE001 - cleanup must not hide the figures
        console.print(f"[yellow]cleanup of {suffix}: {error}")
    finally:
        admin.close()


def delete_group(kafka: KafkaSettings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:
        admin.delete_groups([kafka.group_id])
    except Exception as error:  # noqa: BLE001 - cleanup must not hide the figures
        console.print(f"[yellow]cleanup of group {kafka.group_id}: {error}")
    finally:
        admin.close()


def run_mode(mode: str, lines: list[bytes], args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    batch = BATCH if mode == "batched" else 1
    suffix = uuid.uuid4().hex[:10]
    kafka = KafkaSettings(
        bootstrap_servers=args.bootstrap, input_topic=f"bench.metrics.{suffix}",
        output_topic=f"bench.anomalies.{suffix}", dead_letter_topic=f"bench.dlq.{suffix}",
        platform_topic=f"bench.platform.{suffix}", partitions=args.partitions, group_id=f"bench-{suffix}",
    )  # fmt: skip
    worker, floor, runs = None, None, {}
    try:
        create_topics(kafka)
        with console.status(f"{mode}: producing {len(lines):,} updates"):
            produced = produce(kafka, lines, batch)
        with console.status(f"{mode}: bare consumer"):
            bare = bare_consume(kafka, produced, args.deadline)
        for store in args.stores:
            # One group (so one Faust app id and changelog topics) per store, on the same input.
            tag = store.split(":", 1)[0]
            store_kafka = kafka.model_copy(update={"group_id": f"{kafka.group_id}-{tag}"})
            profile = tmp / f"worker-{mode}-{tag}.prof" if args.profile else None
            with console.status(f"{mode}: worker, {store}"):
                port = free_port()
                started = time.monotonic()
                worker = start_worker(store_kafka, tmp / f"data-{mode}-{tag}", port, args.commit_interval,
                                      tmp / f"worker-{mode}-{tag}.log", profile, store=store,
                                      producer_linger=args.producer_linger)  # fmt: skip
                runs[store] = watch_worker(store_kafka, produced, worker, port, started, args.deadline, args.poll,
                                           tmp / f"worker-{mode}-{tag}.log")  # fmt: skip
                stop_worker(worker)
                worker = None
                delete_group(store_kafka)
        if args.faust_floor:
            with console.status(f"{mode}: Faust doing nothing"):
                floor = run_faust_floor(kafka, produced, args, tmp / f"noop-{mode}.log")
    finally:
        if worker is not None:
            stop_worker(worker)
        delete_run(kafka, suffix)
    return [_mode_result(mode, batch, produced, bare, floor, store, run, args, tmp / f"worker-{mode}-{store.split(':', 1)[0]}.prof")
            for store, run in runs.items()]  # fmt: skip


def _mode_result(mode: str, batch: int, produced: Produced, bare: dict[str, Any], floor: dict[str, Any] | None,
                 store: str, run: WorkerRun, args: argparse.Namespace, profile: Path) -> dict[str, Any]:  # fmt: skip
    result = {
        "mode": mode,
        "store": store,
        "updates_per_message": batch,
        "updates": produced.updates,
        "messages": produced.messages,
        "series": produced.series,
        "partitions": args.partitions,
        "produce_s": round(produced.seconds, 2),
        "bare_consumer": bare,
        "faust_noop": floor,
        "worker": worker_figures(produced, run),
        "target_updates_per_s": TARGETS[mode],
    }
    rate = result["worker"].get("updates_per_s")
    result["worker_vs_bare"] = round(rate / bare["updates_per_s"], 3) if rate else None
    result["meets_target"] = bool(rate and rate >= TARGETS[mode] and not result["worker"]["timed_out"])
    if args.profile and profile.exists():
        result["profile"] = top_functions(profile, args.profile)
    return result


def run_faust_floor(kafka: KafkaSettings, produced: Produced, args: argparse.Namespace, log_path: Path) -> dict[str, Any]:
    """`faust_noop_app` on the same topic under its own group, measured as the worker is."""
    noop_kafka = kafka.model_copy(update={"group_id": kafka.group_id + "-noop"})
    port = free_port()
    started = time.monotonic()
    app = start_worker(noop_kafka, log_path.parent, port, args.commit_interval, log_path, None, app="faust_noop_app")
    try:
        run = watch_worker(noop_kafka, produced, app, port, started, args.deadline, args.poll, log_path)
    finally:
        stop_worker(app)
    figures = worker_figures(produced, run)
    return {key: figures.get(key) for key in ("updates_per_s", "timed_out", "worker_cpu_cores_busy")}


def top_functions(path: Path, count: int) -> list[str]:
    import io
    import pstats

    out = io.StringIO()
    pstats.Stats(str(path), stream=out).sort_stats("tottime").print_stats(count)
    return [line for line in out.getvalue().splitlines() if line.strip()][-count - 1 :]


# -- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batched-updates", type=int, default=300_000, help="updates in the batched mode")
    parser.add_argument("--single-updates", type=int, default=100_000, help="updates in the one-per-message mode")
    parser.add_argument("--modes", default="batched,single", help="comma-separated: batched, single")
    parser.add_argument("--accounts", type=int, default=1000, help="simulated accounts (~3 series each)")
    parser.add_argument("--hours", type=float, default=None, help="simulated hours (default: enough for the updates)")
    parser.add_argument("--partitions", type=int, default=KafkaSettings().partitions, help="input topic partitions")
    parser.add_argument("--bootstrap", default=KafkaSettings().bootstrap_servers)
    parser.add_argument("--commit-interval", type=float, default=0.5,
                        help="the worker's Faust broker_commit_interval in s (0: Faust's 2.8 s default)")  # fmt: skip
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between polls of the group's offsets")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds a worker gets to reach the end")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="run the worker under cProfile (slower; main thread only, not Faust's consumer "
                             "thread) and print its top N functions by own time")  # fmt: skip
    parser.add_argument("--no-faust-floor", dest="faust_floor", action="store_false",
                        help="skip the run of a Faust app that consumes the topic and does nothing")  # fmt: skip
    parser.add_argument("--producer-linger", type=float, default=0.0, metavar="S",
                        help="give the worker Faust's PRODUCER_LINGER=S and 1 MiB producer batches (0: the "
                             "worker's own settings): each checkpoint writes one changelog record per touched "
                             "series, and without a linger they leave in requests of one or two")  # fmt: skip
    parser.add_argument("--stores", default="rocksdb://,memory://",
                        help="comma-separated Faust stores, one worker run each (rocksdb:// is the default store)")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.stores = [store.strip() for store in args.stores.split(",") if store.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := set(modes) - set(TARGETS):
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    sizes = {"batched": args.batched_updates, "single": args.single_updates}

    began = time.monotonic()
    with console.status("starting the broker"):
        ensure_broker()
    uptime_before = uptime()
    with console.status("simulating the input"):
        lines = make_updates(args.accounts, args.hours, max(sizes[m] for m in modes))
    tmp = Path(tempfile.mkdtemp(prefix="dipwatch-worker-bench-"))
    try:
        results = [row for mode in modes for row in run_mode(mode, lines[: sizes[mode]], args, tmp)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "uptime_before": uptime_before, "uptime_after": uptime()},  # fmt: skip
        "settings": {"accounts": args.accounts, "partitions": args.partitions, "commit_interval_s": args.commit_interval,
                     "poll_s": args.poll, "worker_stores": args.stores,
                     "producer_linger_s": args.producer_linger},  # fmt: skip
        "modes": results,
        "total_s": round(time.monotonic() - began, 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_report(report)
    return 0


def _n(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    return (f"{value:,}" if isinstance(value, int) else str(value)) + suffix


def print_report(report: dict[str, Any]) -> None:
    out = Console() if Console().is_terminal else Console(width=180)
    settings, machine = report["settings"], report["machine"]
    table = Table(title=f"worker benchmark: one worker, {settings['partitions']} input partitions, "
                        f"{machine['cpus']} CPUs (broker on the same machine)")  # fmt: skip
    for column in ("mode", "store", "updates", "messages", "series", "bare consumer msgs/s", "bare consumer updates/s",
                   "Faust doing nothing updates/s", "worker updates/s", "target", "worker / bare", "worker CPU (cores)", "peak RSS",
                   "RSS growth / series"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("mode", "store") else "right")
    for r in report["modes"]:
        w, b = r["worker"], r["bare_consumer"]
        rate = _n(w.get("updates_per_s")) + (" (timed out)" if w.get("timed_out") else "")
        verdict = "[green]met[/]" if r["meets_target"] else "[red]missed[/]"
        floor = (r.get("faust_noop") or {}).get("updates_per_s")
        table.add_row(
            f"{r['mode']} ({r['updates_per_message']}/msg)", r["store"], _n(r["updates"]), _n(r["messages"]), _n(r["series"]),
            _n(b["messages_per_s"]), _n(b["updates_per_s"]), _n(floor), rate, f"≥ {r['target_updates_per_s']:,} {verdict}",
            _n(r["worker_vs_bare"]), _n(w.get("worker_cpu_cores_busy")), _n(w.get("peak_rss_mb"), " MB"),
            _n(w.get("rss_growth_per_series_kb"), " kB"),
        )  # fmt: skip
    out.print(table)
    out.print(f"worker updates/s: {report['modes'][0]['worker'].get('measured', '')} Faust's broker_commit_interval set to "
              f"{settings['commit_interval_s'] or 2.8} s, offsets polled every {settings['poll_s']} s. "
              "RSS growth: peak (VmHWM) less the RSS when the worker logged Ready, over the series.")  # fmt: skip
    for r in report["modes"]:
        w = r["worker"]
        out.print(f"{r['mode']}, {r['store']}: ready {_n(w.get('ready_after_start_s'))} s after start, first commit seen after "
                  f"{_n(w.get('first_commit_after_start_s'))} s with {_n(w.get('updates_committed_at_first_commit'))} "
                  f"updates committed, end after {_n(w.get('seconds_from_start'))} s; "
                  f"from Ready {_n(w.get('updates_per_s_from_ready'))} updates/s, from start "
                  f"{_n(w.get('updates_per_s_from_start'))}/s; committed offsets: "
                  f"{_n(w.get('committed_updates_per_s'), ' updates/s')}; /metrics page: {w.get('metrics_page')}; "
                  f"machine CPU busy {_n(w.get('machine_cpu_busy_pct'), ' %')} of {machine['cpus']} cores, "
                  f"max 1-min load {_n(w.get('load_1min_max'))}; RSS at Ready {_n(w.get('rss_at_ready_mb'), ' MB')}")  # noqa: E501
        for line in r.get("profile", []):
            out.print(f"  {line}", markup=False, highlight=False)
    out.print(f"uptime before: {machine['uptime_before']}")
    out.print(f"uptime after:  {machine['uptime_after']}   (total {report['total_s']} s)")


if __name__ == "__main__":
    raise SystemExit(main())
