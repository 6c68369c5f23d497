/*
 * seqlock: single-writer sequence locks over shared memory (DPDK's rte_seqcount, PostgreSQL's
 * st_changecount, Boehm's "Can seqlocks get along with programming language memory models?").
 *
 * Writer: bump to odd, release fence, store the payload, store-release even. Nothing can fail
 * between the bumps: the payload is prepared beforehand and only copied here. Reader:
 * load-acquire the sequence, copy, acquire fence, re-check; bounded retries, so a writer that
 * died between the bumps makes readers give up (-EAGAIN) rather than spin until repair.
 *
 * Payloads are copied with relaxed atomic loads and stores of machine words: a plain memcpy
 * racing a writer is a data race in C11; on x86-64 the atomic form compiles to plain moves.
 */
#include "shm/shm_internal.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

void shm_words_load(void *dst, const void *src, size_t n)
{
    uint64_t *d = dst;
    const uint64_t *s = src;

    for (size_t i = 0; i < n / 8; i++)
        d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

void shm_words_store(void *dst, const void *src, size_t n)
{
    uint64_t *d = dst;
    const uint64_t *s = src;

    for (size_t i = 0; i < n / 8; i++)
        __atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

static inline void shm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Retries of this process's readers (a process-wide total; only touched when a read had to
 * retry, so the uncontended path costs nothing). */
static _Atomic uint64_t shm_seq_retries;

uint64_t shm_seq_read_retries(void)
{
    return atomic_load_explicit(&shm_seq_retries, memory_order_relaxed);
}

void shm_seq_count_retries(int tries)
{
    if (tries > 0)
        atomic_fetch_add_explicit(&shm_seq_retries, (uint64_t)tries, memory_order_relaxed);
}

int shm_seq_read(const shm_seq_t *s, const void *src, void *dst, size_t n)
{
    for (int tries = 0; tries < SHM_READ_TRIES; tries++) {
        uint32_t begin = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (begin & 1) {
            if (tries > 64)
                sched_yield(); /* the writer may be descheduled on a 2-core box */
            else
                shm_cpu_relax();
            continue;
        }
        shm_words_load(dst, src, n);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) == begin) {
            shm_seq_count_retries(tries);
            return 0;
        }
    }
    shm_seq_count_retries(SHM_READ_TRIES);
    return -EAGAIN;
}

/* Begin makes the sequence odd and end makes it even, whatever they find: a group a dead
 * writer left odd heals on the next write instead of inverting its parity. */
void shm_seq_write_begin(shm_seq_t *s)
{
    uint32_t v = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, v | 1u, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

void shm_seq_write_end(shm_seq_t *s)
{
    uint32_t v = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, (v | 1u) + 1, memory_order_release);
}

void shm_seq_write(shm_seq_t *s, void *dst, const void *src, size_t n)
{
    shm_seq_write_begin(s);
    shm_words_store(dst, src, n);
    shm_seq_write_end(s);
}
