/* alloc.c: the engine allocator; a thin counting layer over the C library (see alloc.h). */
#include "alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static atomic_long fail_countdown = -1;

/* The count of allocations, one counter per thread: the server's workers allocate on every
 * request, and one shared counter would bounce its cache line between their cores on each
 * allocation. A thread's counter is only written by that thread (a plain increment: a relaxed
 * load and store, no locked instruction); mp_alloc_count sums them. Counters live in a list of
 * slots that is never freed: a thread that exits hands its count to `retired` and its slot to
 * the next thread that starts. */
typedef struct slot {
	atomic_ulong n;
	int in_use;        /* under slots_lock */
	struct slot *next; /* fixed once linked */
} slot;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static slot *slots;            /* under slots_lock */
static unsigned long retired;  /* under slots_lock: the counts of threads that exited */
static pthread_key_t slot_key; /* its destructor retires the thread's slot */
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static _Thread_local slot *mine;

static void slot_retire(void *arg)
{
	slot *s = arg;
	pthread_mutex_lock(&slots_lock);
	retired += atomic_load_explicit(&s->n, memory_order_relaxed);
	atomic_store_explicit(&s->n, 0, memory_order_relaxed);
	s->in_use = 0;
	pthread_mutex_unlock(&slots_lock);
	mine = NULL;
}

static void slot_key_init(void)
{
	pthread_key_create(&slot_key, slot_retire);
}

/* The calling thread's slot: a free one, or a new one (from the C library, not counted). NULL
 * when out of memory: that allocation goes uncounted. */
static slot *slot_get(void)
{
	pthread_once(&slot_once, slot_key_init);
	pthread_mutex_lock(&slots_lock);
	slot *s = slots;
	while (s && s->in_use)
		s = s->next;
	if (!s && (s = calloc(1, sizeof(*s)))) {
		s->next = slots;
		slots = s;
	}
	if (s)
		s->in_use = 1;
	pthread_mutex_unlock(&slots_lock);
	if (s && pthread_setspecific(slot_key, s) == 0)
		mine = s;
	else if (s)
		slot_retire(s);
	return mine;
}

static void counted(void)
{
	slot *s = mine ? mine : slot_get();
	if (s)
		atomic_store_explicit(&s->n, atomic_load_explicit(&s->n, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
}

int mp_alloc_countdown(atomic_long *left)
{
	long n = atomic_load_explicit(left, memory_order_relaxed);
	if (n < 0)
		return 0;
	if (n == 0)
		return 1;
	atomic_fetch_sub_explicit(left, 1, memory_order_relaxed);
	return 0;
}

static int should_fail(void)
{
	return mp_alloc_countdown(&fail_countdown);
}

void mp_alloc_fail_after(long n)
{
	atomic_store(&fail_countdown, n);
}
unsigned long mp_alloc_count(void)
{
	pthread_mutex_lock(&slots_lock);
	unsigned long n = retired;
	for (slot *s = slots; s; s = s->next)
		n += atomic_load_explicit(&s->n, memory_order_relaxed);
	pthread_mutex_unlock(&slots_lock);
	return n;
}

void *mp_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	void *p = malloc(n ? n : 1);
	if (p)
		counted();
	return p;
}

void *mp_calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (p)
		counted();
	return p;
}

void *mp_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	void *q = realloc(p, n ? n : 1);
	if (q)
		counted();
	return q;
}

void mp_free(void *p)
{
	free(p);
}

#define HUGE_PAGE ((uintptr_t)2 << 20)

void mp_advise_huge(void *p, size_t n)
{
	uintptr_t from = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	uintptr_t to = ((uintptr_t)p + n) & ~(HUGE_PAGE - 1);
#ifdef MADV_HUGEPAGE
	if (to > from)
		(void)madvise((void *)from, to - from, MADV_HUGEPAGE); /* a hint: may fail */
#else
	(void)from, (void)to;
#endif
}

char *mp_strndup(const char *s, size_t n)
{
	char *d = mp_malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

char *mp_strdup(const char *s)
{
	return mp_strndup(s, strlen(s));
}

int mp_reserve(void **v, uint32_t *cap, size_t elsize, uint64_t need, uint32_t first)
{
	if (need <= *cap)
		return 0;
	if (need > UINT32_MAX - 1)
		return -1;
	uint64_t ncap = *cap ? *cap : (first ? first : 1);
	while (ncap < need)
		ncap *= 2;
	if (ncap > UINT32_MAX - 1)
		ncap = UINT32_MAX - 1;
	void *nv = mp_realloc(*v, (size_t)ncap * elsize);
	if (!nv)
		return -1;
	*v = nv;
	*cap = (uint32_t)ncap;
	return 0;
}

int mp_grow(void **v, uint32_t *cap, size_t elsize, uint32_t n, uint32_t first)
{
	return mp_reserve(v, cap, elsize, (uint64_t)n + 1, first);
}
