"""Execution backends: worker processes on this machine, or Ray actors.

Workers are started with the *spawn* method, so no OpenGL or PyBullet state
is inherited through a fork (pyrender#200); each creates its own renderer and
PyBullet client once and reuses them for every shard it takes. Shards are
handed out one at a time, so a fast worker takes more of them.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from typing import Callable, Iterable

from dropsynth.errors import DropsynthError

log = logging.getLogger(__name__)

_worker = None  # the ShardWorker of this worker process
_progress_q = None


def _init_worker(job, progress_q, lp_threads: str | None) -> None:
    global _worker, _progress_q
    # Ctrl-C goes to the parent, which stops the workers; a worker stopping by
    # itself in the middle of a PNG would only leave a temporary file behind.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if lp_threads:
        os.environ.setdefault("LP_NUM_THREADS", lp_threads)
    from dropsynth.shards import ShardWorker

    _progress_q = progress_q
    try:
        _worker = ShardWorker(job)
    except DropsynthError as e:
        _worker = e  # reported by the first task, as a clean error
    except Exception as e:  # an initializer that raises makes Pool restart workers forever
        _worker = DropsynthError(f"a worker could not start: {type(e).__name__}: {e}")


def _run_shard(shard: int) -> dict:
    if isinstance(_worker, Exception):
        raise _worker
    return dict(_worker.run(shard, progress=lambda n, anns: _progress_q.put((n, anns))), pid=os.getpid())


def _drain(q, progress, stop: threading.Event) -> None:
    while not stop.is_set() or not q.empty():
        try:
            n, anns = q.get(timeout=0.1)
        except queue.Empty:
            continue
        except (EOFError, OSError):
            return
        if progress is not None:
            progress(n, anns)


def _main_is_a_script() -> bool:
    """True when ``__main__`` is a Python file (which spawned workers import
    again) and not the dropsynth command."""
    import sys

    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and (spec.name or "").split(".")[0] == "dropsynth":  # python -m dropsynth.cli
        return False
    return (getattr(main, "__file__", None) or "").endswith(".py")


def run_pool(job, shards: Iterable[int], workers: int, progress: Callable[[int, int], None] | None,
             on_interrupt: Callable[[], Exception]) -> str:
    """Run ``shards`` in ``workers`` spawned processes; returns the GL renderer name.

    ``shards`` is consumed lazily: at most two shards per worker are queued at
    a time, so a run of a billion scenes needs no more memory than a short one.

    Each worker uses one llvmpipe thread (LP_NUM_THREADS=1, unless set): with
    one process per core, llvmpipe's own threads would only compete. A worker
    that dies (killed, out of memory, crashed in native code) stops the run
    with an error instead of leaving its shard waiting forever.
    """
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    stop = threading.Event()
    drainer = threading.Thread(target=_drain, args=(q, progress, stop), daemon=True)
    drainer.start()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(job, q, "1" if workers > 1 else None))
    gl = ""

    def kill_workers():
        for p in list(getattr(pool, "_processes", {}).values()):
            if p.is_alive():
                p.terminate()
        pool.shutdown(wait=True, cancel_futures=True)

    todo = iter(shards)
    pending: set = set()

    def fill() -> None:
        for k in todo:
            pending.add(pool.submit(_run_shard, k))
            if len(pending) >= 2 * workers:
                return

    finished = 0
    try:
        fill()
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                gl = fut.result().get("gl_renderer", gl)
                finished += 1
            fill()
        pool.shutdown(wait=True)
    except KeyboardInterrupt:
        kill_workers()
        raise on_interrupt() from None
    except BrokenProcessPool:
        kill_workers()
        hint = ("; from a Python script, call generate() under `if __name__ == \"__main__\":` (each worker "
                "imports the script again)" if not finished and _main_is_a_script() else "")
        raise DropsynthError(f"a worker process died (killed, out of memory, or crashed){hint}; complete shards "
                             f"are kept: run the same command with --resume to finish") from None
    except BaseException:
        kill_workers()
        raise
    finally:
        stop.set()
        drainer.join(timeout=5)
    return gl


def run_ray(job, shards: Iterable[int], workers: int, address: str | None,
            progress: Callable[[int, int], None] | None, on_interrupt: Callable[[], Exception] | None = None) -> str:
    """Run ``shards`` as tasks on Ray actors (``address``: an existing
    cluster, e.g. "ray://head:10001" or "auto"; None starts a local Ray).

    Every node must see ``job.out_dir`` and the pack paths at the same path
    (a shared filesystem); the files are the same as with the local backend.
    ``shards`` is consumed lazily, two per actor at a time. Ctrl-C or SIGTERM
    kills the actors (on a cluster too) before ``on_interrupt()`` is raised.
    """
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise DropsynthError("--backend ray needs Ray: pip install 'dropsynth[ray]' (or pip install ray)") from None
    started_here = not ray.is_initialized()
    if started_here:
        kw = {"address": address} if address else {"num_cpus": workers}
        main = threading.current_thread() is threading.main_thread()
        sigterm = signal.getsignal(signal.SIGTERM) if main else None
        try:
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, **kw)
        except Exception as e:  # ConnectionError, RuntimeError, ...: one clean line
            raise DropsynthError(f"--backend ray: cannot start or reach Ray ({type(e).__name__}: {e})") from None
        finally:
            if main and sigterm is not None:
                signal.signal(signal.SIGTERM, sigterm)  # ray.init installs its own (sys.exit): keep the caller's

    @ray.remote(num_cpus=1)
    class RayShardWorker:
        def __init__(self, job):
            if workers > 1:
                os.environ.setdefault("LP_NUM_THREADS", "1")
            from dropsynth.shards import ShardWorker

            self.w = ShardWorker(job)

        def run(self, shard):
            return self.w.run(shard)

    actors: list = []
    try:
        actors = [RayShardWorker.remote(job) for _ in range(workers)]
        gl = ""
        pool = ActorPool(actors)
        todo = iter(shards)
        queued = 0
        for k in todo:  # ActorPool.map_unordered would list every shard up front
            pool.submit(lambda a, shard: a.run.remote(shard), k)
            queued += 1
            if queued >= 2 * workers:
                break
        while pool.has_next():
            stats = pool.get_next_unordered()
            gl = stats.get("gl_renderer", gl)
            if progress is not None:
                progress(stats["frames_attempted"], stats["annotations"])
            k = next(todo, None)
            if k is not None:
                pool.submit(lambda a, shard: a.run.remote(shard), k)
        return gl
    except KeyboardInterrupt:
        for a in actors:
            ray.kill(a)
        actors = []
        if on_interrupt is not None:
            raise on_interrupt() from None
        raise DropsynthError("interrupted: complete shards are kept; run the same command with --resume to "
                             "finish") from None
    except (ray.exceptions.RayTaskError, ray.exceptions.RayActorError) as e:
        # A worker's own error (e.g. a broken mesh, no GL) travels as its cause.
        cause = getattr(e, "cause", None) or (e.as_instanceof_cause() if hasattr(e, "as_instanceof_cause") else e)
        text = str(cause).strip().splitlines()
        last = next((ln for ln in reversed(text) if ln.strip()), type(e).__name__)
        raise DropsynthError(f"--backend ray: a worker failed: {last.strip()}; complete shards are kept: run the "
                             f"same command with --resume to finish") from None
    finally:
        for a in actors:
            ray.kill(a)
        if started_here:
            ray.shutdown()
