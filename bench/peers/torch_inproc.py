"""torch_inproc.py - in-process baseline of peer (b) for bench/peers.sh:
digits-large.pt in torch (Python), batch 1, one intra-op thread per
process, the same load as flask_app.py, no HTTP.

    /usr/bin/python3 bench/peers/torch_inproc.py MODEL.pt PROCS SECONDS [plain|optimize]

Runs PROCS processes (each loads the model, warms up, then calls it on the
benchmark image for SECONDS, building the input tensor from a Python list
and running softmax + topk as the app does) and prints one line:

    INPROC procs=P calls=N per_s=R p50_us=A p99_us=B
"""

import multiprocessing as mp
import os
import sys
import time

PIXELS = [0, 0, 1, 10, 14, 0, 0, 0, 0, 0, 8, 14, 11, 3, 0, 0, 0, 0, 16, 2, 2, 0, 0, 0,
          0, 3, 13, 0, 0, 0, 0, 0, 0, 4, 13, 0, 6, 10, 3, 0, 0, 3, 15, 13, 12, 10, 12, 0,
          0, 0, 10, 16, 4, 5, 14, 0, 0, 0, 0, 9, 15, 14, 9, 0]


def child(path, seconds, optimize, start, q):
    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    m = torch.jit.load(path, map_location="cpu")
    m.eval()
    if optimize:
        m = torch.jit.optimize_for_inference(torch.jit.freeze(m))
    lat = []
    with torch.inference_mode():
        for _ in range(50):
            m(torch.zeros(1, 1, 8, 8))
        start.wait()
        end = time.perf_counter() + seconds
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            x = torch.tensor(PIXELS, dtype=torch.float32).reshape(1, 1, 8, 8)
            p = torch.softmax(m(x)[0], 0)
            torch.topk(p, 3)[1].tolist()
            lat.append(time.perf_counter() - t0)
    q.put(lat)


def main():
    path, procs, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    optimize = (sys.argv[4] if len(sys.argv) > 4 else "optimize") == "optimize"
    ctx = mp.get_context("spawn")  # each process its own torch, as gunicorn workers
    start = ctx.Barrier(procs + 1)
    q = ctx.Queue()
    ps = [ctx.Process(target=child, args=(path, seconds, optimize, start, q)) for _ in range(procs)]
    for p in ps:
        p.start()
    start.wait()
    lats = [q.get() for _ in ps]
    for p in ps:
        p.join()
    allv = sorted(v for lat in lats for v in lat)
    n = len(allv)
    print("INPROC procs=%d calls=%d per_s=%.1f p50_us=%d p99_us=%d" % (
        procs, n, n / seconds, allv[n // 2] * 1e6, allv[min(n - 1, int(n * 0.99))] * 1e6))


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    main()
