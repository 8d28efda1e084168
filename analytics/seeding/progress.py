"""Progress bars and per-phase timings for the seed, written to a command's stdout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from django.core.management.base import OutputWrapper

_WIDTH = 28


@dataclass
class Phase:
    name: str
    total: int
    unit: str
    reporter: Reporter
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    _drawn: int = -1

    def advance(self, amount: int) -> None:
        self.done += amount
        self.reporter._draw(self)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


class Reporter:
    """Draws one bar per phase (redrawn in place on a terminal, a final line otherwise)."""

    def __init__(self, stream: TextIO | None, *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet or stream is None
        self.timings: list[tuple[str, float, int, str]] = []
        self._live = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def _emit(self, text: str) -> None:
        if isinstance(self.stream, OutputWrapper):
            self.stream.write(text, ending="")  # it would end every write with a newline
        else:
            self.stream.write(text)
        self.stream.flush()

    def write(self, line: str) -> None:
        if not self.quiet:
            self._emit(line + "\n")

    @contextmanager
    def phase(self, name: str, total: int = 0, unit: str = "rows") -> Iterator[Phase]:
        phase = Phase(name=name, total=total, unit=unit, reporter=self)
        self._draw(phase)
        yield phase
        self.record(name, phase.elapsed, phase.done, unit)

    def record(self, name: str, elapsed: float, done: int = 0, unit: str = "rows") -> None:
        """A finished phase: its line with count, time and rate, and its timing."""
        self.timings.append((name, elapsed, done, unit))
        if not self.quiet:
            rate = f"  {done / elapsed:>12,.0f} {unit}/s" if done and elapsed > 0 else ""
            count = f"{done:>12,} {unit}" if done else " " * (13 + len(unit))
            prefix = "\r" if self._live else ""
            self._emit(f"{prefix}  {name:<24} {self._bar(1.0)} {count} {elapsed:7.1f} s{rate}\n")

    def _bar(self, share: float) -> str:
        filled = round(share * _WIDTH)
        return "[" + "#" * filled + "." * (_WIDTH - filled) + "]"

    def _draw(self, phase: Phase) -> None:
        if self.quiet or not self._live:
            return
        share = min(phase.done / phase.total, 1.0) if phase.total else 0.0
        percent = int(share * 100)
        if percent == phase._drawn:
            return
        phase._drawn = percent
        counts = f"{phase.done:,}/{phase.total:,} {phase.unit}"
        self._emit(f"\r  {phase.name:<24} {self._bar(share)} {percent:3d}% {counts}")
