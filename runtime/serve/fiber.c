/*
 * fiber.c - C coroutines over ucontext (see fiber.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CS_FIBER_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define CS_FIBER_TSAN 1
#endif

#include "serve/fiber.h"

struct cs_fiber {
	ucontext_t ctx;
	void *map;          /* the mapping: guard page, then the stack */
	size_t map_len;
	void *stack;
	size_t stack_len;
	void (*fn)(void *);
	void *arg;
#ifdef CS_FIBER_TSAN
	void *tsan;
#endif
};

static _Thread_local ucontext_t loop_ctx;
static _Thread_local cs_fiber *current;
#ifdef CS_FIBER_ASAN
static _Thread_local const void *loop_stack;
static _Thread_local size_t loop_stack_len;
#endif
#ifdef CS_FIBER_TSAN
static _Thread_local void *loop_tsan;
#endif

/* makecontext passes ints: the fiber is the one being started. */
static _Thread_local cs_fiber *starting;

static void entry(void)
{
	cs_fiber *f = starting;

#ifdef CS_FIBER_ASAN
	/* first run: learn the loop's stack, to switch back to it */
	__sanitizer_finish_switch_fiber(NULL, &loop_stack, &loop_stack_len);
#endif
	f->fn(f->arg);
	for (;;) /* fn must not return; if it does, it never runs again */
		cs_fiber_yield();
}

/* getcontext returns twice: kept apart so no caller's local is clobbered. */
static __attribute__((noinline)) int context_init(cs_fiber *f)
{
	if (getcontext(&f->ctx) != 0)
		return -1;
	f->ctx.uc_stack.ss_sp = f->stack;
	f->ctx.uc_stack.ss_size = f->stack_len;
	f->ctx.uc_link = NULL;
	makecontext(&f->ctx, entry, 0);
	return 0;
}

cs_fiber *cs_fiber_new(size_t stack_bytes, void (*fn)(void *), void *arg)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	cs_fiber *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	stack_bytes = (stack_bytes + page - 1) / page * page;
	f->map_len = stack_bytes + page;
	f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f->map == MAP_FAILED) {
		free(f);
		return NULL;
	}
	mprotect(f->map, page, PROT_NONE); /* an overflow faults, not corrupts */
	f->stack = (char *)f->map + page;
	f->stack_len = stack_bytes;
	f->fn = fn;
	f->arg = arg;
	if (context_init(f) != 0) {
		munmap(f->map, f->map_len);
		free(f);
		return NULL;
	}
#ifdef CS_FIBER_TSAN
	f->tsan = __tsan_create_fiber(0);
#endif
	return f; /* the first resume starts it through entry() */
}

void cs_fiber_free(cs_fiber *f)
{
	if (!f)
		return;
#ifdef CS_FIBER_TSAN
	__tsan_destroy_fiber(f->tsan);
#endif
	munmap(f->map, f->map_len);
	free(f);
}

void cs_fiber_resume(cs_fiber *f)
{
#ifdef CS_FIBER_ASAN
	void *fake = NULL;
#endif

	current = f;
	starting = f;
#ifdef CS_FIBER_TSAN
	if (!loop_tsan)
		loop_tsan = __tsan_get_current_fiber();
	__tsan_switch_to_fiber(f->tsan, 0);
#endif
#ifdef CS_FIBER_ASAN
	__sanitizer_start_switch_fiber(&fake, f->stack, f->stack_len);
#endif
	swapcontext(&loop_ctx, &f->ctx);
#ifdef CS_FIBER_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
	current = NULL;
}

void cs_fiber_yield(void)
{
	cs_fiber *f = current;
#ifdef CS_FIBER_ASAN
	void *fake = NULL;
#endif

	if (!f)
		return;
#ifdef CS_FIBER_TSAN
	__tsan_switch_to_fiber(loop_tsan, 0);
#endif
#ifdef CS_FIBER_ASAN
	__sanitizer_start_switch_fiber(&fake, loop_stack, loop_stack_len);
#endif
	swapcontext(&f->ctx, &loop_ctx);
#ifdef CS_FIBER_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

cs_fiber *cs_fiber_current(void)
{
	return current;
}
