/*
 * k8s_ratelimit: the client-side token bucket (KEDA's --kube-api-qps / --kube-api-burst),
 * reconnect backoff and the jitter source. Pure arithmetic on an injected clock; the state
 * lives in the client or loop that owns it (one thread).
 */
#include "common/k8s_internal.h"

#include <sys/random.h>
#include <unistd.h>

int64_t k8s_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * K8S_NS_PER_S + ts.tv_nsec;
}

void k8s_ratelimit_init(k8s_ratelimit_t *rl, double qps, int burst, int64_t now_ns)
{
    rl->unlimited = qps < 0;
    rl->qps = qps > 0 ? qps : K8S_DEFAULT_QPS;
    rl->burst = burst > 0 ? burst : K8S_DEFAULT_BURST;
    rl->tokens = rl->burst; /* a fresh client may send a full burst at once */
    rl->last_ns = now_ns;
}

int64_t k8s_ratelimit_reserve(k8s_ratelimit_t *rl, int64_t now_ns)
{
    double tokens;

    if (rl->unlimited)
        return 0;
    /* A clock that went backwards (it cannot with CLOCK_MONOTONIC, but tests inject) adds
     * nothing. */
    if (now_ns > rl->last_ns) {
        tokens = rl->tokens + (double)(now_ns - rl->last_ns) * rl->qps / (double)K8S_NS_PER_S;
        rl->tokens = tokens < rl->burst ? tokens : rl->burst;
        rl->last_ns = now_ns;
    }
    rl->tokens -= 1.0;
    if (rl->tokens >= 0)
        return 0;
    /* Round up, so the caller never wakes a nanosecond before its token exists. */
    return (int64_t)(-rl->tokens / rl->qps * (double)K8S_NS_PER_S) + 1;
}

void k8s_rng_seed(k8s_rng_t *rng)
{
    uint64_t seed = 0;

    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)k8s_now_ns() ^ ((uint64_t)getpid() << 32);
    rng->s = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

uint64_t k8s_rng_next(k8s_rng_t *rng)
{
    uint64_t x = rng->s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

int64_t k8s_backoff_ns(unsigned step, uint64_t random)
{
    int64_t d = K8S_BACKOFF_MIN_MS * K8S_NS_PER_MS, max = K8S_BACKOFF_MAX_MS * K8S_NS_PER_MS;

    for (unsigned i = 0; i < step && d < max; i++)
        d *= 2;
    if (d > max)
        d = max;
    /* [d/2, d]: spreads the reconnects of many replicas after an API server restart. */
    return d / 2 + (int64_t)(random % (uint64_t)(d / 2 + 1));
}
