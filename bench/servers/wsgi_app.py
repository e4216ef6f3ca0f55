"""The Gunicorn contenders' app: the same routes as app.mjs, as WSGI.

    /          hello world
    /io/MS     time.sleep(MS / 1000) (gevent's worker patches it into a cooperative sleep)
    /cpu/MS    about MS ms of CPU: a fixed amount of work, calibrated by the harness and
               passed in BENCH_PY_CPU_ITERS_PER_MS
An `X-Id` request header is echoed back.

    python3 wsgi_app.py --calibrate    prints iterations per millisecond
"""
import os
import sys
import time

ITERS_PER_MS = float(os.environ.get("BENCH_PY_CPU_ITERS_PER_MS") or 10000)
BODY = b"Hello, world!\n"


def burn_iterations(n):
    x = 1
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
    return x


def burn(ms):
    return burn_iterations(int(ms * ITERS_PER_MS))


def calibrate():
    n = 10000
    while True:
        t0 = time.perf_counter()
        burn_iterations(n)
        if time.perf_counter() - t0 >= 0.01:
            break
        n *= 2
    # the best of many ~10 ms samples: one the scheduler interrupted does not count
    best = min(_timed(n) for _ in range(25))
    return int(n / (best * 1000))


def _timed(n):
    t0 = time.perf_counter()
    burn_iterations(n)
    return time.perf_counter() - t0


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    extra = None
    if path != "/":
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in ("io", "cpu") or not parts[1].isdigit():
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
            return [b"not found\n"]
        ms = int(parts[1])
        if parts[0] == "io":
            time.sleep(ms / 1000.0)
        else:
            extra = burn(ms)
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
    xid = environ.get("HTTP_X_ID")
    if xid is not None:
        headers.append(("X-Id", xid))
    if extra is not None:
        headers.append(("X-Work", str(extra)))
    start_response("200 OK", headers)
    return [BODY]


if __name__ == "__main__" and sys.argv[1:] == ["--calibrate"]:
    print(calibrate())
