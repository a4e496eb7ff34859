"""The worker processes of ``tda serve --workers N``: started, kept, and stopped with the primary.

A worker that exits while the server is up (a crash, an OOM kill) is replaced: its listening
sockets closed with it, so the kernel already sends new connections to the other processes, and
the replacement takes its share again once it is ready. A worker that keeps dying at start is
retried with a growing pause rather than in a tight loop.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

START_SECONDS = 120.0  # imports and the first handler loads, on a loaded machine
QUICK_EXIT_SECONDS = 10.0  # a worker gone this soon after starting counts as a failed start
MAX_PAUSE_SECONDS = 30.0


class WorkerPool:
    def __init__(
        self,
        count: int,
        grpc_port: int,
        http_port: int,
        host: str,
        primary: str,
        env: dict[str, str],
    ) -> None:
        self.count = count
        self.command = [sys.executable, "-m", "tda_local.cli", "serve",
                        "--grpc-port", str(grpc_port), "--http-port", str(http_port),
                        "--host", host, "--primary", primary]  # fmt: skip
        self.env = env
        self.children: list[asyncio.subprocess.Process] = []
        self._stopping = False
        # Held: the loop keeps only weak references to tasks.
        self._keepers: set[asyncio.Task[None]] = set()
        self._relays: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Every worker started and serving (they start side by side)."""
        spawned = [await self._spawn() for _ in range(self.count)]
        try:
            for child in spawned:
                await self._ready(child)
        except BaseException:
            for child in spawned:
                if child.returncode is None:
                    child.kill()
            raise
        for child in spawned:
            _hold(self._keepers, asyncio.create_task(self._keep(child)))

    def signal_stop(self) -> None:
        """SIGTERM to every worker: each drains its in-flight calls as the primary does."""
        self._stopping = True
        for task in self._keepers:
            task.cancel()  # no replacement from here on
        for child in self.children:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)

    async def wait(self, grace: float) -> None:
        for child in self.children:
            try:
                await asyncio.wait_for(child.wait(), grace)
            except TimeoutError:
                child.kill()
                await child.wait()

    async def _spawn(self) -> asyncio.subprocess.Process:
        child = await asyncio.create_subprocess_exec(
            *self.command, stdout=asyncio.subprocess.PIPE, env=self.env
        )
        self.children.append(child)
        return child

    async def _ready(self, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), START_SECONDS)
        if line.strip() != b"ready":
            raise SystemExit(f"tda serve: a worker process did not start ({line!r})")
        # The handlers write to standard output (their metrics, logs): passed on, never left to fill.
        _hold(self._relays, asyncio.create_task(_pass_on(child.stdout)))

    async def _keep(self, child: asyncio.subprocess.Process) -> None:
        """Wait for ``child`` to exit; unless the server is stopping, start another in its place."""
        failures = 0
        while True:
            started = time.monotonic()
            code = await child.wait()
            if self._stopping:
                return
            self.children.remove(child)
            failures = failures + 1 if time.monotonic() - started < QUICK_EXIT_SECONDS else 0
            pause = min(MAX_PAUSE_SECONDS, 0.5 * 2**failures) if failures else 0.0
            _say(f"worker {child.pid} exited ({code}); another starts in {pause:.1f} s")
            await asyncio.sleep(pause)
            child = await self._spawn()
            try:
                await self._ready(child)
            except (SystemExit, TimeoutError) as exc:
                _say(f"a replacement worker did not start ({exc})")
                child.kill()  # its exit, next time round the loop, counts as a failure


def _hold(tasks: set[asyncio.Task[None]], task: asyncio.Task[None]) -> None:
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _pass_on(stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        sys.stdout.buffer.write(line)
        sys.stdout.flush()


def _say(message: str) -> None:
    print(f"tda serve: {message}", file=sys.stderr, flush=True)
