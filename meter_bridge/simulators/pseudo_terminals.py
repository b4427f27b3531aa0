"""Pseudo-terminals for simulated serial lines: one pty, or two joined as a null-modem cable."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty


def open_pty() -> tuple[int, int, str]:
    """A new pty: (master fd, non-blocking; slave fd, raw mode; slave device name)."""
    master, slave = os.openpty()
    # Raw mode before anyone opens it: no echo, no line editing, no CR/LF translation.
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


class PtyPair:
    """Two ptys joined master-to-master: a virtual null-modem cable.

    A program opens ``a_name`` and another ``b_name`` (both ordinary tty devices, so
    pyserial works on each); bytes written to one arrive at the other. The slave ends are
    also held open here, so one side closing does not break the other (no EIO).
    """

    def __init__(self) -> None:
        self._a_master, self._a_slave, self.a_name = open_pty()
        self._b_master, self._b_slave, self.b_name = open_pty()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Begin copying bytes both ways on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._a_master, self._pump, self._a_master, self._b_master)
        self._loop.add_reader(self._b_master, self._pump, self._b_master, self._a_master)

    def _pump(self, src: int, dst: int) -> None:
        try:
            data = os.read(src, 4096)
        except BlockingIOError:
            return
        except OSError:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(dst, data)   # a full buffer drops bytes, as a real line would

    def close(self) -> None:
        """Stop copying and close every descriptor."""
        if self._loop is not None:
            for fd in (self._a_master, self._b_master):
                self._loop.remove_reader(fd)
        for fd in (self._a_master, self._a_slave, self._b_master, self._b_slave):
            with contextlib.suppress(OSError):
                os.close(fd)
