/*
 * metrics.h - process-wide counters, gauges and histograms for /metrics.
 *
 * Any module, on any thread, bumps a metric by name and label set; the HTTP
 * service renders them all in the Prometheus text format.  Names follow
 * Prometheus conventions (cifeed_polls_total); labels are given as the
 * literal label text without braces, e.g. "source=\"cki\"" (values must
 * already be escaped with metrics_label_escape when they come from outside).
 * Lookups are by (name, labels) under one mutex: metrics are touched per
 * request or per page, not per row, so contention is negligible.
 */
#ifndef CIFEED_METRICS_H
#define CIFEED_METRICS_H

#include <stdint.h>

#include "buf.h"

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Declare help text and kind once (optional; undeclared metrics render untyped). */
void metrics_declare(const char *name, enum metric_kind kind, const char *help);
void metrics_counter_add(const char *name, const char *labels, uint64_t n);
void metrics_gauge_set(const char *name, const char *labels, double v);
/* Observe a value (seconds) into a histogram with the default latency buckets. */
void metrics_observe(const char *name, const char *labels, double v);
/* Read a counter (tests). */
uint64_t metrics_counter_get(const char *name, const char *labels);

/* Append all metrics in Prometheus text exposition format 0.0.4. */
void metrics_render(struct buf *out);
/* Escape a label value (backslash, quote, newline). */
void metrics_label_escape(struct buf *out, const char *v);
/* Forget everything (tests). */
void metrics_reset(void);

#endif
