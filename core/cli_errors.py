"""What every command shares: our errors as one clear line and a non-zero
exit, and SIGTERM handled like Ctrl-C (used by ``dropsynth`` and ``dropsynth
utility``, so neither imports the other's module for it)."""
from __future__ import annotations

import functools
import sys

import click

from dropsynth.errors import DropsynthError

_STOP_SIGNAL: list = []  # the signal (SIGTERM) that stopped generate, if one did


def _exit_code() -> int:
    return 128 + _STOP_SIGNAL[0] if _STOP_SIGNAL else 130  # 143 for SIGTERM, like a shell; 130 for Ctrl-C


def _stop_on_sigterm(signum, frame):
    """Schedulers (SLURM, Kubernetes, Ray's autoscaler) stop a job with
    SIGTERM: handled like Ctrl-C, so the workers are stopped and the message
    says how to resume. A second one is ignored: the run is already stopping."""
    import signal

    signal.signal(signum, signal.SIG_IGN)
    _STOP_SIGNAL.append(signum)
    raise KeyboardInterrupt


def _clean_errors(fn):
    """Turn our errors into one clear line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        verbose = kwargs.get("verbose", False)
        from dropsynth.pipeline import Interrupted

        try:
            return fn(*args, **kwargs)
        except Interrupted as e:
            click.echo(f"\n{'SIGTERM: ' if _STOP_SIGNAL else ''}{e}", err=True)
            sys.exit(_exit_code())
        except DropsynthError as e:
            if verbose:
                raise
            raise click.ClickException(str(e)) from None
        except OSError as e:  # a file that vanished, a full disk, a folder we may not write
            if verbose:
                raise
            where = f": {e.filename}" if getattr(e, "filename", None) else ""
            raise click.ClickException(f"{e.strerror or e}{where}") from None
        except KeyboardInterrupt:
            click.echo(f"\n{'SIGTERM: ' if _STOP_SIGNAL else ''}interrupted", err=True)
            sys.exit(_exit_code())

    return wrapper
