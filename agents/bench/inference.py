"""`sluice bench inference`: Sluice's generation path against the raw engine and a naive loop, measured in one run.

Every figure comes from the same run on the same machine, on one fixed workload of chat prompts:

- the raw engine alone (CTranslate2 int8 `generate_batch` in batches of `max_batch_size`): the limit;
- Sluice end to end through Kafka at saturating load, with the int8 and then the float32 version (hot switch);
- what a user would otherwise write (one prompt at a time through transformers float32 `generate`);
- client-measured latency at light load (one request at a time).
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agents.bench.ingest import cpu_seconds, peak_rss_mb, write_result
from agents.core.kafka_io import TopicFollower, produce_all, producer
from agents.core.settings import Settings
from agents.processes import runtime
from agents.processes.broker import resolve_bootstrap_servers
from agents.processes.supervise import worker_process
from models.dialog.templates import RetrievedRecord
from schemas.errors import SluiceError
from topics.specs import INFERENCE_REQUESTS, INFERENCE_RESPONSES, MODELS_REGISTRY

MAX_TOKENS = 48
NAIVE_PROMPTS = 16
LATENCY_REQUESTS = 20
# Requests are produced all at once; a deadline this long means a slow machine shows up as a low rate, not
# as timeouts (the schema's maximum).
DEADLINE_MS = 600_000
SWITCH_TIMEOUT_S = 180.0
WARMUP_REQUESTS = 4

# Customer-service questions without personal data and without the default policy's keywords (office hours,
# legal action, identity numbers), so that every one of them goes to the model. {p} is a product.
_EN = (
    "How do I return the {p} I ordered last week?",
    "My {p} arrived with a scratch on the side. What can I do?",
    "Can I change the delivery address for my {p} order?",
    "How long does the warranty on the {p} last?",
    "The {p} stopped working after two days. How do I get a replacement?",
    "Is the {p} available in another colour?",
    "Why was I charged twice for the {p}?",
    "When will my {p} be shipped?",
)
_ZH = (
    "我上周买的{p}怎么退货？",
    "收到的{p}外包装破损了，怎么处理？",
    "{p}的保修期是多久？",
    "我的{p}订单可以改收货地址吗？",
    "{p}用了两天就坏了，可以换新的吗？",
    "{p}什么时候发货？",
    "为什么{p}的订单扣了两次款？",
    "{p}有没有其他颜色可选？",
)
_PRODUCTS_EN = (
    "electric kettle",
    "blender",
    "desk lamp",
    "rice cooker",
    "air purifier",
    "coffee grinder",
    "wireless headphones",
    "vacuum cleaner",
)
_PRODUCTS_ZH = ("电水壶", "榨汁机", "台灯", "电饭煲", "空气净化器", "咖啡研磨机", "无线耳机", "吸尘器")


def workload(count: int) -> list[str]:
    """count distinct prompts (up to 128), English and Chinese interleaved, always the same for the same count."""
    english = [t.format(p=p) for p in _PRODUCTS_EN for t in _EN]
    chinese = [t.format(p=p) for p in _PRODUCTS_ZH for t in _ZH]
    mixed = [prompt for pair in zip(english, chinese, strict=True) for prompt in pair]
    if not 1 <= count <= len(mixed):
        raise ValueError(f"the inference workload has 1 to {len(mixed)} prompts, asked for {count}")
    return mixed[:count]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0 and 100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(values_ms: Sequence[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values_ms, q), 1) for q in (50, 95, 99)}


def rate(tokens: int, seconds: float) -> float:
    return round(tokens / seconds, 2) if seconds > 0 else 0.0


# --- models ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Versions:
    name: str
    int8: str
    float32: str


def ensure_models(settings: Settings) -> Versions:
    """Import SmolLM2 int8 and float32 when missing (idempotent), and make int8 the promoted version."""
    from models.registry import Registry, import_model

    name = settings.generator_model
    if name != "smollm2":
        raise SluiceError(
            f"the inference bench measures SmolLM2: settings.generator_model must be 'smollm2', not {name!r}"
        )
    root = settings.resolved_registry_dir
    print(f"== models: {name} int8 and float32 in {root} (imported once, then cached) ==", flush=True)
    int8 = import_model("smollm2", name=name, version=None, quantization="int8", root=root).version
    float32 = import_model("smollm2", name=name, version=None, quantization="float32", root=root).version
    registry = Registry(root)
    if registry.state().entry(name).promoted != int8:
        registry.promote(name, int8)
        print(f"  promoted {name}@{int8}", flush=True)
    return Versions(name, int8, float32)


def naive_source_dir(settings: Settings) -> Path:
    """The dequantised float32 Hugging Face directory the registry converted SmolLM2 from (cached by the import)."""
    from models.registry.importer import SOURCES_DIR
    from models.registry.sources import descriptor_key, prepare_smollm2_source, smollm2_descriptor

    cache = (
        settings.resolved_registry_dir / SOURCES_DIR / f"smollm2-135m-instruct-{descriptor_key(smollm2_descriptor())}"
    )
    return prepare_smollm2_source(cache / "hf")  # returns the cached directory as it is


def model_bytes(settings: Settings, versions: Versions) -> dict[str, int]:
    from models.registry import Manifest, Registry

    registry = Registry(settings.resolved_registry_dir)
    return {
        "int8": Manifest.load(registry.model_dir(versions.name, versions.int8)).total_bytes,
        "float32": Manifest.load(registry.model_dir(versions.name, versions.float32)).total_bytes,
    }


def render_prompts(
    generator: Any, tenant: str, prompts: Sequence[str], retrieved: Sequence[RetrievedRecord] = ()
) -> list[str]:
    """The prompts as the service renders a first chat turn, with `retrieved` as its context (none by default)."""
    from models.dialog import load_templates

    system = load_templates()["chat-default"].render(tenant, retrieved)
    return [
        generator.render_chat([{"role": "system", "content": system}, {"role": "user", "content": p}]) for p in prompts
    ]


# --- the raw engine and the naive loop ----------------------------------------------------------------------------
def measure_raw_engine(settings: Settings, versions: Versions, rendered: Sequence[str]) -> dict[str, Any]:
    """CTranslate2 int8 generate_batch alone, in batches of max_batch_size, with the worker's intra threads."""
    from models.registry import open_generator

    generator = open_generator(
        settings.resolved_registry_dir, versions.name, versions.int8, intra_threads=settings.generate_threads
    )
    size = settings.max_batch_size

    def run(batch: Sequence[str]) -> int:
        out = generator.generate_batch(batch, max_tokens=[MAX_TOKENS] * len(batch), temperature=[0.0] * len(batch))
        return sum(g.completion_tokens for g in out)

    run(rendered[:2])  # first call allocates
    tokens = 0
    batch_seconds: list[float] = []
    load = os.getloadavg()[0]
    cpu_before = cpu_seconds(os.getpid())
    started = time.perf_counter()
    with tqdm(total=len(rendered), unit="req", desc="raw engine", leave=False) as bar:
        for i in range(0, len(rendered), size):
            chunk = rendered[i : i + size]
            batch_started = time.perf_counter()
            tokens += run(chunk)
            batch_seconds.append(round(time.perf_counter() - batch_started, 2))
            bar.update(len(chunk))
    elapsed = time.perf_counter() - started
    return {
        "tokens": tokens,
        "seconds": round(elapsed, 2),
        "tokens_per_s": rate(tokens, elapsed),
        "batch_seconds": batch_seconds,
        "cpu_seconds": round(cpu_seconds(os.getpid()) - cpu_before, 2),
        "load_average_1m_before": round(load, 2),
    }


def measure_naive(settings: Settings, rendered: Sequence[str]) -> dict[str, Any]:
    """One prompt at a time through transformers float32 generate (greedy), as a per-message consumer would."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = naive_source_dir(settings)
    torch.set_num_threads(2)
    tokenizer: Any = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    model: Any = AutoModelForCausalLM.from_pretrained(str(source), local_files_only=True, dtype=torch.float32)
    model.eval()

    def generate(prompt: str) -> int:
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=MAX_TOKENS,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        new = output[0][inputs["input_ids"].shape[1] :].tolist()
        # Count like CT2Generator: the end token is not a completion token.
        return len(new) - (1 if new and new[-1] == tokenizer.eos_token_id else 0)

    generate(rendered[0])  # first call allocates
    tokens = 0
    load = os.getloadavg()[0]
    cpu_before = cpu_seconds(os.getpid())
    started = time.perf_counter()
    for prompt in tqdm(rendered, unit="req", desc="naive transformers", leave=False):
        tokens += generate(prompt)
    elapsed = time.perf_counter() - started
    return {
        "prompts": len(rendered),
        "tokens": tokens,
        "seconds": round(elapsed, 2),
        "tokens_per_s": rate(tokens, elapsed),
        "cpu_seconds": round(cpu_seconds(os.getpid()) - cpu_before, 2),
        "load_average_1m_before": round(load, 2),
        "torch_threads": torch.get_num_threads(),
        "source": str(source),
    }


# --- Sluice through Kafka ----------------------------------------------------------------------------------------
class Client:
    """Requests in and responses out with plain Kafka clients, as any application would."""

    def __init__(self, settings: Settings, bootstrap: str, tenant: str) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.tenant = tenant
        self.follower = TopicFollower(bootstrap, [INFERENCE_RESPONSES.name], settings.kafka_options)
        while self.follower.poll(1.0):  # skip older responses before any clock starts
            pass
        self.producer = producer(bootstrap, {**settings.kafka_options, "linger.ms": "0"})

    def request(self, request_id: str, prompt: str, max_tokens: int = MAX_TOKENS) -> tuple[bytes, bytes]:
        body = {
            "request_id": request_id,
            "tenant": self.tenant,
            "session_id": f"{request_id}-s",  # distinct sessions: no turn waits for another
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "deadline_ms": DEADLINE_MS,
        }
        return f"{request_id}-s".encode(), json.dumps(body, ensure_ascii=False).encode()

    def send(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        produce_all(
            self.bootstrap,
            ((INFERENCE_REQUESTS.name, key, value) for key, value in messages),
            options=self.settings.kafka_options,
        )

    def collect(
        self, ids: set[str], timeout_s: float, desc: str, *, partial: bool = False
    ) -> dict[str, tuple[float, dict[str, Any]]]:
        """First response per request id, with the monotonic time it arrived; on timeout raises, or with `partial`
        returns what arrived (when at least one response did)."""
        found: dict[str, tuple[float, dict[str, Any]]] = {}
        deadline = time.monotonic() + timeout_s
        with tqdm(total=len(ids), unit="resp", desc=desc, leave=False, disable=len(ids) < 2) as bar:
            while len(found) < len(ids):
                if time.monotonic() > deadline:
                    if partial and found:
                        break
                    raise SluiceError(
                        f"{desc}: {len(found)} of {len(ids)} responses within {timeout_s:.0f}s; "
                        f"see {self.settings.run_dir}/inference-0.log"
                    )
                for record in self.follower.poll(0.2):
                    arrived = time.monotonic()
                    body = json.loads(record.value or b"{}")
                    request_id = body.get("request_id")
                    if request_id in ids and request_id not in found:
                        found[request_id] = (arrived, body)
                        bar.update(1)
        return found

    def ask_one(
        self, request_id: str, prompt: str, timeout_s: float, max_tokens: int = MAX_TOKENS
    ) -> tuple[float, dict[str, Any]]:
        """One request, produced and flushed at once; (client-measured milliseconds, response)."""
        key, value = self.request(request_id, prompt, max_tokens)
        started = time.monotonic()
        self.producer.produce(INFERENCE_REQUESTS.name, key=key, value=value)
        if self.producer.flush(30) != 0:
            raise SluiceError(f"could not produce {request_id} within 30s")
        arrived, body = self.collect({request_id}, timeout_s, f"response {request_id}")[request_id]
        return (arrived - started) * 1000, body

    def close(self) -> None:
        self.follower.close()


def saturating_load(client: Client, prompts: Sequence[str], prefix: str, timeout_s: float) -> dict[str, Any]:
    """All requests produced at once; from the first produce to the last response."""
    return saturating_load_with_latencies(client, prompts, prefix, timeout_s)[0]


def saturating_load_with_latencies(
    client: Client, prompts: Sequence[str], prefix: str, timeout_s: float, *, partial: bool = False
) -> tuple[dict[str, Any], dict[str, float]]:
    """saturating_load's summary, and per request id answered its latency in ms (the first produce to its
    response). With `partial`, requests still unanswered after timeout_s are left out instead of failing."""
    messages = [client.request(f"{prefix}-{i}", p) for i, p in enumerate(prompts)]
    ids = {f"{prefix}-{i}" for i in range(len(prompts))}
    load = os.getloadavg()[0]
    started = time.monotonic()
    client.send(messages)
    found = client.collect(ids, timeout_s, f"sluice {prefix.rsplit('-', 1)[-1]}", partial=partial)
    arrivals = sorted(arrived - started for arrived, _ in found.values())
    elapsed = arrivals[-1]
    size = client.settings.max_batch_size
    bodies = [body for _, body in found.values()]
    tokens = sum(int(b.get("tokens", {}).get("completion", 0)) for b in bodies)
    batch_sizes = [int(b.get("batch_size") or 0) for b in bodies]
    summary = {
        "requests": len(prompts),
        "responses": len(bodies),
        "by_status": dict(Counter(str(b.get("status")) for b in bodies)),
        "models": dict(Counter(str(b.get("model")) for b in bodies)),
        "tokens": tokens,
        "seconds": round(elapsed, 2),
        "tokens_per_s": rate(tokens, elapsed),
        "mean_batch_size": round(sum(batch_sizes) / len(batch_sizes), 2),
        "mean_queued_ms": round(sum(float(b.get("timings_ms", {}).get("queued", 0)) for b in bodies) / len(bodies), 1),
        # When the 1st, max_batch_size-th, 2*max_batch_size-th... response arrived: the batches' cadence.
        "arrivals_s": [round(arrivals[i], 2) for i in range(0, len(arrivals), size)] + [round(arrivals[-1], 2)],
        "load_average_1m_before": round(load, 2),
    }
    return summary, {request_id: (arrived - started) * 1000 for request_id, (arrived, _) in found.items()}


def publish_registry(settings: Settings, bootstrap: str, name: str) -> None:
    """What `sluice models promote` does after saving: the model's registry state on models.registry.v1."""
    from models.registry import Registry
    from schemas.inference import RegistryMessage

    entry = Registry(settings.resolved_registry_dir).state().entry(name)
    message = RegistryMessage(name=name, state=entry.to_dict())
    produce_all(
        bootstrap,
        [(MODELS_REGISTRY.name, name.encode(), message.model_dump_json().encode())],
        options=settings.kafka_options,
    )


def switch_to(
    settings: Settings, bootstrap: str, client: Client, name: str, version: str, probe: Callable[[], str]
) -> float:
    """Promote version, publish it, and wait until the worker answers with it; returns the seconds it took."""
    from models.registry import Registry

    registry = Registry(settings.resolved_registry_dir)
    entry = registry.state().entry(name)
    if entry.promoted == version:
        pass  # published again below: the worker may not have seen it yet
    elif entry.history and entry.history[-1] == version:
        registry.rollback(name)  # back to what served before: keeps the registry's history as it was
    else:
        registry.promote(name, version)
    publish_registry(settings, bootstrap, name)
    wanted = f"{name}@{version}"
    started = time.monotonic()
    deadline = started + SWITCH_TIMEOUT_S
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SluiceError(f"the inference worker still does not answer with {wanted} after {SWITCH_TIMEOUT_S:.0f}s")
        _, body = client.ask_one(probe(), "Is the blender in stock?", remaining, max_tokens=1)
        if body.get("model") == wanted:
            return round(time.monotonic() - started, 2)
        time.sleep(0.5)


def reset_peak_rss(pid: int) -> bool:
    """Start VmHWM afresh at the current RSS (Linux: 5 > /proc/PID/clear_refs); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


# --- the whole bench -----------------------------------------------------------------------------------------------
def run_inference_bench(
    settings: Settings,
    *,
    requests: int = 64,
    naive_prompts: int = NAIVE_PROMPTS,
    latency_requests: int = LATENCY_REQUESTS,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Run every measurement side by side, write var/bench/inference.json, print it and return it."""
    bench_started = time.monotonic()
    prompts = workload(requests)
    naive_prompts = min(naive_prompts, requests)
    versions = ensure_models(settings)
    sizes = model_bytes(settings, versions)
    load_timeout = timeout_s or max(600.0, requests * 10.0)

    print("== starting Sluice (broker, topics, workers) ==", flush=True)
    state = runtime.up(settings)
    inference_pids = [int(p["pid"]) for p in state["processes"] if p["role"] == "inference"]
    if not inference_pids:
        raise SluiceError(f"no inference worker is running for {versions.name}; see {settings.run_dir}")
    worker_pid = worker_process(inference_pids[0])  # the worker, not its keep-alive supervisor
    bootstrap = resolve_bootstrap_servers(settings)
    run_id = f"ib{time.strftime('%H%M%S')}{uuid.uuid4().hex[:4]}"
    tenant = f"bench-{run_id}"  # a fresh tenant: retrieval finds nothing, the prompt is the bare chat turn
    client = Client(settings, bootstrap, tenant)
    probes = (f"{run_id}-probe-{i}" for i in range(10_000))
    try:
        # The worker may still be consuming the registry topic or allocating on its first batch.
        switch_to(settings, bootstrap, client, versions.name, versions.int8, lambda: next(probes))
        # Loaded versions stay loaded: a worker that served float32 before still holds it (see rss at start).
        worker_rss_at_start = rss_mb(worker_pid)
        peak_reset = reset_peak_rss(worker_pid)
        print(f"== warming up the worker ({WARMUP_REQUESTS} requests) ==", flush=True)
        saturating_load(client, prompts[:WARMUP_REQUESTS], f"{run_id}-warm", load_timeout)

        print(
            f"== raw engine: CTranslate2 int8 generate_batch, {requests} prompts in batches of "
            f"{settings.max_batch_size} (workers idle) ==",
            flush=True,
        )
        from models.registry import open_generator

        renderer = open_generator(settings.resolved_registry_dir, versions.name, versions.int8, intra_threads=1)
        rendered = render_prompts(renderer, tenant, prompts)
        del renderer
        raw = measure_raw_engine(settings, versions, rendered)
        print(f"  {raw['tokens_per_s']} tokens/s", flush=True)

        print(f"== Sluice end to end, int8, {requests} requests at once ==", flush=True)
        processes = {f"{p['role']}-{p['pid']}": int(p["pid"]) for p in state["processes"]}
        processes[f"bench-client-{os.getpid()}"] = os.getpid()
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        sluice = saturating_load(client, prompts, f"{run_id}-int8", load_timeout)
        cpu_used = {name: round(cpu_seconds(pid) - cpu_before[name], 2) for name, pid in processes.items()}
        print(f"  {sluice['tokens_per_s']} tokens/s, {sluice['by_status']}", flush=True)

        print(f"== latency at light load: {latency_requests} requests one at a time ==", flush=True)
        latencies: list[float] = []
        server: dict[str, list[float]] = {"total": [], "queued": [], "generated": [], "outside_service": []}
        latency_status: Counter[str] = Counter()
        for i in tqdm(range(latency_requests), unit="req", desc="latency", leave=False):
            ms, body = client.ask_one(f"{run_id}-lat-{i}", prompts[i % len(prompts)], load_timeout)
            latencies.append(ms)
            latency_status[str(body.get("status"))] += 1
            timings = body.get("timings_ms") or {}
            for key in ("total", "queued", "generated"):
                server[key].append(float(timings.get(key, 0.0)))
            # Kafka both ways, Faust's micro-batching and the worker's consumption, as the client sees it.
            server["outside_service"].append(ms - float(timings.get("total", 0.0)))
        rss_int8 = peak_rss_mb(worker_pid)

        print(f"== naive: transformers float32 generate, one prompt at a time, {naive_prompts} prompts ==", flush=True)
        naive = measure_naive(settings, rendered[:naive_prompts])
        print(f"  {naive['tokens_per_s']} tokens/s", flush=True)

        print(f"== Sluice end to end, float32 (hot switch to {versions.float32}) ==", flush=True)
        switch_s = switch_to(settings, bootstrap, client, versions.name, versions.float32, lambda: next(probes))
        print(f"  worker answers with float32 after {switch_s}s", flush=True)
        sluice_f32 = saturating_load(client, prompts, f"{run_id}-f32", load_timeout)
        print(f"  {sluice_f32['tokens_per_s']} tokens/s, {sluice_f32['by_status']}", flush=True)
    finally:
        try:
            switch_to(settings, bootstrap, client, versions.name, versions.int8, lambda: next(probes))
            print(f"  {versions.name}@{versions.int8} serves again", flush=True)
        except Exception as exc:  # do not hide what failed in the bench itself
            print(f"  WARNING: could not confirm that {versions.name}@{versions.int8} serves again: {exc}", flush=True)
        finally:
            client.close()

    result: dict[str, Any] = {
        "requests": requests,
        "responses": sluice["responses"],
        "responses_by_status": sluice["by_status"],
        "raw_engine_tokens_per_s": raw["tokens_per_s"],
        "sluice_tokens_per_s": sluice["tokens_per_s"],
        "naive_tokens_per_s": naive["tokens_per_s"],
        "sluice_float32_tokens_per_s": sluice_f32["tokens_per_s"],
        "ratio_vs_engine": round(sluice["tokens_per_s"] / raw["tokens_per_s"], 3),
        "speedup_vs_naive": round(sluice["tokens_per_s"] / naive["tokens_per_s"], 2),
        "int8_vs_float32_tokens_per_s": round(sluice["tokens_per_s"] / sluice_f32["tokens_per_s"], 2),
        "mean_batch_fill": round(sluice["mean_batch_size"] / settings.max_batch_size, 3),
        "latency_ms": latency_summary(latencies),
        "latency_requests": latency_requests,
        "latency_by_status": dict(latency_status),
        "latency_server_ms_p50": {k: round(percentile(v, 50), 1) for k, v in server.items()},
        "model_bytes": sizes,
        "int8_vs_float32_bytes": round(sizes["int8"] / sizes["float32"], 3),
        "worker_peak_rss_mb": rss_int8,
        "worker_peak_rss_mb_after_float32": peak_rss_mb(worker_pid),
        "worker_rss_mb_at_start": worker_rss_at_start,
        "worker_peak_rss_reset_at_start": peak_reset,
        "end_to_end_cpu_seconds_by_process": cpu_used,
        "detail": {
            "raw_engine": raw,
            "sluice_int8": sluice,
            "sluice_float32": {**sluice_f32, "switch_seconds": switch_s},
            "naive": naive,
        },
        "models": {"int8": f"{versions.name}@{versions.int8}", "float32": f"{versions.name}@{versions.float32}"},
        "max_tokens": MAX_TOKENS,
        "max_batch_size": settings.max_batch_size,
        "max_wait_ms": settings.max_wait_ms,
        "generate_threads": settings.generate_threads,
        "cpu_cores": os.cpu_count(),
        "bench_seconds": round(time.monotonic() - bench_started, 1),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_result(settings, "inference", result)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result
