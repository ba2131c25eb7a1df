"""The ceiling under the engine: the openai SDK alone, sending chat completions to the fake.

No Django, no database, no limiter: `--requests` calls of the engine's message shape (a
system prompt and a user message of about 450 words), at most `--concurrency` in flight
under an asyncio semaphore, through one AsyncOpenAI client with the engine's settings
(max_retries=0). What this reaches on a machine is the most any engine built on the SDK can
reach there; the gap between it and bench/throughput.py is the engine's own cost.

`--transport aiohttp` uses the SDK's aiohttp transport (openai.DefaultAioHttpClient), which
needs the `openai[aiohttp]` extra; `--transport raw-aiohttp` skips the SDK altogether (plain
aiohttp and json), to show what the SDK itself costs. Both need a throwaway venv, never the
project's:

    uv run python bench/sdk_ceiling.py
    uv venv /tmp/sdk-venv && uv pip install --python /tmp/sdk-venv "openai[aiohttp]==3.57.0"
    /tmp/sdk-venv/bin/python bench/sdk_ceiling.py --transport aiohttp
    /tmp/sdk-venv/bin/python bench/sdk_ceiling.py --transport raw-aiohttp
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import random
import statistics
import sys
import threading
import time

import common


async def send_all(options: argparse.Namespace, base_url: str) -> tuple[float, float, list[float]]:
    """(wall seconds, CPU seconds of this process, latency of each call) for the timed calls."""
    if options.transport == "raw-aiohttp":
        client = RawClient(base_url)
    else:
        import openai

        http_client = openai.DefaultAioHttpClient() if options.transport == "aiohttp" else None
        client = openai.AsyncOpenAI(
            api_key="bench-key",
            base_url=base_url,
            timeout=120,
            max_retries=0,
            http_client=http_client,
        )
    rng = random.Random(1)
    system = "You are an experienced professional doing a piece of real work."
    prompts = [f"Task {i}. " + common.prose(rng, 450) for i in range(min(options.requests, 200))]
    gate = asyncio.Semaphore(options.concurrency)
    latencies: list[float] = []
    arrived: queue.Queue = queue.Queue()
    consumer = threading.Thread(target=consume, args=(arrived,), daemon=True)
    if options.hand_off:
        consumer.start()

    async def one(index: int) -> None:
        async with gate:
            started = time.monotonic()
            reply = await client.chat.completions.create(
                model="fake-model",
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": prompts[index % len(prompts)]},
                ],
            )
            latencies.append(time.monotonic() - started)
        if options.hand_off:
            arrived.put((index, reply))

    # One warm-up call: imports and the first connection are not counted.
    await one(0)
    latencies.clear()
    started, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(options.requests)))
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    arrived.put(None)
    await client.close()
    return elapsed, cpu, latencies


def consume(arrived: queue.Queue) -> None:
    """The engine's hand-off: another thread takes each result as it comes."""
    while True:
        try:
            message = arrived.get(timeout=0.25)
        except queue.Empty:
            continue
        if message is None:
            return


class RawClient:
    """POST /chat/completions with aiohttp and json, no SDK: what the HTTP round trip and the
    JSON cost by themselves. Shaped like AsyncOpenAI for `send_all`."""

    def __init__(self, base_url: str) -> None:
        import aiohttp

        self.url = f"{base_url}/chat/completions"
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            headers={"Authorization": "Bearer bench-key"},
        )
        self.chat = self
        self.completions = self

    async def create(self, **body) -> dict:
        async with self.session.post(self.url, json=body) as reply:
            reply.raise_for_status()
            return await reply.json()

    async def close(self) -> None:
        await self.session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2, help="Fake reply latency, s.")
    parser.add_argument("--transport", choices=["httpx", "aiohttp", "raw-aiohttp"], default="httpx")
    parser.add_argument(
        "--hand-off",
        action="store_true",
        help="Pass each result to another thread through a queue.Queue, as the engine does.",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet-wait", type=float, default=120)
    options = parser.parse_args()
    print(f"Command: {common.command_line()}")
    print(f"Python: {sys.executable}")
    ideal = options.concurrency / options.latency
    rates = []
    with common.Processes() as processes:
        fake = processes.start_fake(latency=options.latency)
        for attempt in range(1, options.repeat + 1):
            print(common.wait_for_quiet_machine(max_wait=options.quiet_wait))
            print(common.speed_probe())
            fake_cpu = common.cpu_seconds(fake.child.pids())
            elapsed, cpu, latencies = asyncio.run(send_all(options, fake.openai_url))
            fake_cpu = common.cpu_seconds(fake.child.pids()) - fake_cpu
            rate = options.requests / elapsed
            rates.append(rate)
            print(
                f"  run {attempt}: {options.requests} calls in {elapsed:.2f} s = {rate:.1f}/s "
                f"({rate / ideal:.1%} of {ideal:.0f}/s); mean latency "
                f"{statistics.mean(latencies) * 1000:.0f} ms; client CPU {cpu:.2f} s "
                f"= {cpu / options.requests * 1000:.2f} ms per call; fake CPU {fake_cpu:.2f} s"
            )
    median = statistics.median(rates)
    print(
        f"SDK ceiling ({options.transport}): median {median:.1f} calls/s = {median / ideal:.1%} "
        f"of {ideal:.0f}/s at concurrency {options.concurrency}, latency {options.latency} s"
    )


if __name__ == "__main__":
    main()
