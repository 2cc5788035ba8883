/*
 * spool.h - the KCIDB spool directory: how CI systems without an API push.
 *
 * A CI system writes a KCIDB JSON file into DATADIR/spool/kcidb/ (write to a
 * dot-file or *.tmp, then rename into place).  `cifeed serve` notices it
 * (libuv fs events, plus a periodic rescan as a safety net), ingests it off
 * the event loop, and moves it to done/ or, if it was rejected, to failed/
 * beside NAME.err saying why.  A file whose ingest failed for a transient
 * reason (database busy, disk full) stays in place and is retried.
 *
 * Crash safety: the move happens after the transaction commits; a crash in
 * between re-ingests the file on restart, which the submission checksum
 * turns into a no-op before the file moves to done/.
 */
#ifndef CIFEED_SPOOL_H
#define CIFEED_SPOOL_H

#include "err.h"

/*
 * Process every ready file in `dir` synchronously (what the service does on
 * each scan).  Returns the number of files handled, or -1 with err set.
 */
struct store;
int spool_process_dir(const char *dir, struct store *st, size_t max_bytes, struct err *err);

#endif
