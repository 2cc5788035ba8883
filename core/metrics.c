/*
 * metrics.c - the metric registry (see metrics.h).
 */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				  0.05,   0.1,   0.25,   0.5,   1,    2.5, 5, 10 };
#define NBUCKETS (sizeof(buckets) / sizeof(*buckets))

struct metric {
	char *name, *labels;
	enum metric_kind kind;
	uint64_t count;          /* counter value, or histogram count */
	double value;            /* gauge value, or histogram sum */
	uint64_t bucket[NBUCKETS];
};

struct family {
	char *name, *help;
	enum metric_kind kind;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *ms;
static size_t nms;
static struct family *fams;
static size_t nfams;

static struct metric *get(const char *name, const char *labels, enum metric_kind kind)
{
	labels = labels ? labels : "";
	for (size_t i = 0; i < nms; i++)
		if (!strcmp(ms[i].name, name) && !strcmp(ms[i].labels, labels))
			return &ms[i];
	ms = xrealloc(ms, (nms + 1) * sizeof(*ms));
	struct metric *m = &ms[nms++];
	memset(m, 0, sizeof(*m));
	m->name = xstrdup(name);
	m->labels = xstrdup(labels);
	m->kind = kind;
	return m;
}

void metrics_declare(const char *name, enum metric_kind kind, const char *help)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nfams; i++)
		if (!strcmp(fams[i].name, name)) {
			pthread_mutex_unlock(&lock);
			return;
		}
	fams = xrealloc(fams, (nfams + 1) * sizeof(*fams));
	fams[nfams].name = xstrdup(name);
	fams[nfams].help = xstrdup(help ? help : "");
	fams[nfams].kind = kind;
	nfams++;
	pthread_mutex_unlock(&lock);
}

void metrics_counter_add(const char *name, const char *labels, uint64_t n)
{
	pthread_mutex_lock(&lock);
	get(name, labels, METRIC_COUNTER)->count += n;
	pthread_mutex_unlock(&lock);
}

void metrics_gauge_set(const char *name, const char *labels, double v)
{
	pthread_mutex_lock(&lock);
	get(name, labels, METRIC_GAUGE)->value = v;
	pthread_mutex_unlock(&lock);
}

void metrics_observe(const char *name, const char *labels, double v)
{
	pthread_mutex_lock(&lock);
	struct metric *m = get(name, labels, METRIC_HISTOGRAM);
	m->count++;
	m->value += v;
	for (size_t i = 0; i < NBUCKETS; i++)
		if (v <= buckets[i])
			m->bucket[i]++;
	pthread_mutex_unlock(&lock);
}

uint64_t metrics_counter_get(const char *name, const char *labels)
{
	uint64_t v = 0;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nms; i++)
		if (!strcmp(ms[i].name, name) && !strcmp(ms[i].labels, labels ? labels : ""))
			v = ms[i].count;
	pthread_mutex_unlock(&lock);
	return v;
}

void metrics_label_escape(struct buf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			buf_adds(out, "\\\\");
		else if (*v == '"')
			buf_adds(out, "\\\"");
		else if (*v == '\n')
			buf_adds(out, "\\n");
		else
			buf_addch(out, *v);
	}
}

static void series(struct buf *out, const char *name, const char *suffix, const char *labels,
		   const char *extra)
{
	buf_addf(out, "%s%s", name, suffix);
	int has = labels && *labels;
	if (has || extra) {
		buf_addch(out, '{');
		if (has)
			buf_adds(out, labels);
		if (extra)
			buf_addf(out, "%s%s", has ? "," : "", extra);
		buf_addch(out, '}');
	}
	buf_addch(out, ' ');
}

static int cmp_metric(const void *a, const void *b)
{
	const struct metric *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->labels, y->labels);
}

void metrics_render(struct buf *out)
{
	pthread_mutex_lock(&lock);
	qsort(ms, nms, sizeof(*ms), cmp_metric);
	const char *last = "";
	for (size_t i = 0; i < nms; i++) {
		struct metric *m = &ms[i];
		if (strcmp(m->name, last)) {
			for (size_t f = 0; f < nfams; f++)
				if (!strcmp(fams[f].name, m->name) && *fams[f].help)
					buf_addf(out, "# HELP %s %s\n", m->name, fams[f].help);
			buf_addf(out, "# TYPE %s %s\n", m->name,
				 m->kind == METRIC_COUNTER ? "counter"
				 : m->kind == METRIC_GAUGE ? "gauge"
							   : "histogram");
			last = m->name;
		}
		if (m->kind == METRIC_COUNTER) {
			series(out, m->name, "", m->labels, NULL);
			buf_addf(out, "%llu\n", (unsigned long long)m->count);
		} else if (m->kind == METRIC_GAUGE) {
			series(out, m->name, "", m->labels, NULL);
			buf_addf(out, "%.17g\n", m->value);
		} else {
			char le[48];
			for (size_t b = 0; b < NBUCKETS; b++) {
				snprintf(le, sizeof(le), "le=\"%g\"", buckets[b]);
				series(out, m->name, "_bucket", m->labels, le);
				buf_addf(out, "%llu\n", (unsigned long long)m->bucket[b]);
			}
			series(out, m->name, "_bucket", m->labels, "le=\"+Inf\"");
			buf_addf(out, "%llu\n", (unsigned long long)m->count);
			series(out, m->name, "_sum", m->labels, NULL);
			buf_addf(out, "%.17g\n", m->value);
			series(out, m->name, "_count", m->labels, NULL);
			buf_addf(out, "%llu\n", (unsigned long long)m->count);
		}
	}
	pthread_mutex_unlock(&lock);
}

void metrics_reset(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nms; i++) {
		free(ms[i].name);
		free(ms[i].labels);
	}
	free(ms);
	ms = NULL;
	nms = 0;
	for (size_t i = 0; i < nfams; i++) {
		free(fams[i].name);
		free(fams[i].help);
	}
	free(fams);
	fams = NULL;
	nfams = 0;
	pthread_mutex_unlock(&lock);
}
