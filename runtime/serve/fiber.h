/*
 * fiber.h - C coroutines for the event loop: each request runs on a stack
 * of its own, and an inference parks it until its batch has run.
 *
 * A fiber is resumed from the thread's own stack (the loop) and yields back
 * to it; fibers never switch to each other. One thread only: a fiber is
 * never resumed from another thread than the one that created it.
 * Sanitizer builds tell ASan and TSan about every switch.
 */
#ifndef CS_FIBER_H
#define CS_FIBER_H

#include <stddef.h>

typedef struct cs_fiber cs_fiber;

/*
 * Creates a fiber that will run fn(arg) on a stack of stack_bytes (a
 * guard page below it) when first resumed. fn must never return: it
 * yields when it has nothing to do. Returns NULL when out of memory.
 */
cs_fiber *cs_fiber_new(size_t stack_bytes, void (*fn)(void *), void *arg);

/* Frees a fiber that is not running (its stack is dropped as it is). */
void cs_fiber_free(cs_fiber *f);

/* From the thread's own stack: runs f until it yields. */
void cs_fiber_resume(cs_fiber *f);

/* From inside a fiber: back to the cs_fiber_resume() that ran it. */
void cs_fiber_yield(void);

/* The fiber running now, or NULL on the thread's own stack. */
cs_fiber *cs_fiber_current(void);

#endif
