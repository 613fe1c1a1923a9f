/*
 * runtime.h - private header of libgoshm-go.so's signal work-around.
 *
 * libgoshm-go.so is the engine built with `go build -buildmode=c-shared`:
 * it carries a dormant Go runtime, whose threads and signal handlers must
 * leave the program's signals alone (runtime_signals.c, runtime_threads.c).
 * These files live in package main, beside main.go, so that only that
 * library has them: libgoshm.so (the C compiler's build of the engine) has
 * no runtime to work around, and the Go programs that import package goshm
 * own their runtime and its signals.
 */
#ifndef GOSHM_RUNTIME_H
#define GOSHM_RUNTIME_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#define GS_RT_HIDDEN __attribute__((visibility("hidden")))

/* runtime_threads.c: remembers the loading thread (from the first
 * constructor), and makes every other thread, all of them the runtime's,
 * block the program's signals (from the second). */
GS_RT_HIDDEN void gs_runtime_threads_note_loader(void);
GS_RT_HIDDEN void gs_runtime_threads_quiet(void);

/* Called by main.go's init once the runtime has started; wakes
 * gs_runtime_threads_quiet, which waits for it. */
GS_RT_HIDDEN void gs_runtime_started(void);

#endif /* GOSHM_RUNTIME_H */
