"""What a small call costs over plain numba: warm kernels, small arguments, medians.

Each figure is the median of ``--calls`` interleaved calls of the ``pi`` kernel:

- *fresh*: blockloop on a run it has not seen (a new ``n`` each call), which ends before
  its first checkpoint is due, minus plain numba on the same ``n`` (goal <= 0.5 ms). Its
  completion record is written after the call returns, by a background thread;
- *completed at once*: the same call again straight away; it waits for that record, so it
  also times the record's writing (a file system's latency shows here);
- *completed*: the same call a third time, the record on disk: what returning a completed
  run's result costs (goal <= 1 ms);
- *disabled*: ``BLOCKLOOP_DISABLE=1``, the original kernel behind the wrapper;
- *back to back*: ``--calls`` fresh runs one after another and the wait for the last
  record, per call, minus plain numba's median: what a fresh call costs in throughput,
  records included (their writing overlaps the next calls only where the file system makes
  the thread wait, since its Python part needs the GIL).

    python benchmarks/small_calls.py               # 1000 calls each
    python benchmarks/small_calls.py --calls 200
    python benchmarks/small_calls.py --dir /dev/shm  # without the disk's metadata latency
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import checkpointed_loop
from blockloop.storage import background
from kernels.pi import pi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--n", type=int, default=10_000, help="iterations per call")
    parser.add_argument(
        "--dir", help="where the checkpoint directory is made (default: the system's temp dir)"
    )
    args = parser.parse_args()
    plain = pi.original
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        blocked = checkpointed_loop(checkpoint_dir=root, progress=False)(plain)
        plain(args.n)
        blocked(args.n)  # compile (or load) both
        plain_t, fresh_t, waited_t, done_t, off_t = [], [], [], [], []
        for k in range(args.calls):
            n = args.n + 1 + k
            t0 = time.perf_counter()
            plain(n)
            plain_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            blocked(n)
            fresh_t.append(time.perf_counter() - t0)
            for times in (waited_t, done_t):
                t0 = time.perf_counter()
                blocked(n)
                times.append(time.perf_counter() - t0)
                assert blocked.last_report is not None and blocked.last_report.already_complete
            os.environ["BLOCKLOOP_DISABLE"] = "1"
            t0 = time.perf_counter()
            blocked(n)
            off_t.append(time.perf_counter() - t0)
            del os.environ["BLOCKLOOP_DISABLE"]
        t0 = time.perf_counter()
        for k in range(args.calls):
            blocked(args.n + args.calls + 1 + k)
        background.wait()
        in_turn = (time.perf_counter() - t0) / args.calls
    ms = 1e3
    base = statistics.median(plain_t)
    print(f"pi(n ~ {args.n}), {args.calls} interleaved calls, medians")
    print(f"plain numba                   {base * ms:8.3f} ms")
    fresh = statistics.median(f - p for f, p in zip(fresh_t, plain_t, strict=True))
    print(f"fresh run, over plain numba   {fresh * ms:8.3f} ms   (goal <= 0.5 ms)")
    waited = statistics.median(waited_t)
    print(f"completed at once (+ record)  {waited * ms:8.3f} ms")
    done = statistics.median(done_t)
    print(f"completed run, returned       {done * ms:8.3f} ms   (goal <= 1 ms)")
    print(f"BLOCKLOOP_DISABLE=1           {statistics.median(off_t) * ms:8.3f} ms")
    print(f"back to back, over plain      {(in_turn - base) * ms:8.3f} ms   (records included)")


if __name__ == "__main__":
    main()
