#!/usr/bin/env python3
"""measure.py CMD... - run CMD, print 'wall_s=<seconds> maxrss_kb=<kb> cpu_s=<s>' on stderr.

Shared by the benchmarks: wall-clock time and the peak RSS of the command
(and its children), measured the same way for cifeed and its reference.
"""
import resource, subprocess, sys, time

t0 = time.monotonic()
rc = subprocess.call(sys.argv[1:])
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"wall_s={wall:.3f} maxrss_kb={ru.ru_maxrss} cpu_s={ru.ru_utime + ru.ru_stime:.2f}", file=sys.stderr)
sys.exit(rc)
