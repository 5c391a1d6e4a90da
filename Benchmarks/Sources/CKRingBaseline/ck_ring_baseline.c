// The anchor for the ring benchmark (issue 7): Concurrency Kit's ck_ring (Debian libck-dev), driven the way
// ring-ratio drives Sluice's rings: per-item calls, and on a full or empty ring 64 spins before a
// sched_yield (two cores, so a spinning peer must eventually give the core back).
#define _GNU_SOURCE
#include "ck_ring_baseline.h"

#include <ck_ring.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec spec;
    clock_gettime(CLOCK_MONOTONIC, &spec);
    return (double)spec.tv_sec + (double)spec.tv_nsec / 1e9;
}

static inline void back_off(unsigned int *failures) {
    if (++*failures >= 64) {
        *failures = 0;
        sched_yield();
    }
}

struct shared {
    struct ck_ring ring;
    struct ck_ring_buffer *buffer;
    uint64_t items;        // per producer
    unsigned int producers;
    uint64_t sum;
    bool in_order;
};

static void *spsc_producer(void *argument) {
    struct shared *shared = argument;
    unsigned int failures = 0;
    for (uint64_t value = 1; value <= shared->items; value++) {
        while (!ck_ring_enqueue_spsc(&shared->ring, shared->buffer, (void *)(uintptr_t)value)) back_off(&failures);
    }
    return NULL;
}

static void *spsc_consumer(void *argument) {
    struct shared *shared = argument;
    unsigned int failures = 0;
    uint64_t expected = 1;
    void *entry;
    while (expected <= shared->items) {
        if (ck_ring_dequeue_spsc(&shared->ring, shared->buffer, &entry)) {
            if ((uint64_t)(uintptr_t)entry != expected) shared->in_order = false;
            expected++;
        } else {
            back_off(&failures);
        }
    }
    return NULL;
}

static void *mpsc_producer(void *argument) {
    struct shared *shared = argument;
    unsigned int failures = 0;
    for (uint64_t value = 1; value <= shared->items; value++) {
        while (!ck_ring_enqueue_mpsc(&shared->ring, shared->buffer, (void *)(uintptr_t)value)) back_off(&failures);
    }
    return NULL;
}

static void *mpsc_consumer(void *argument) {
    struct shared *shared = argument;
    unsigned int failures = 0;
    uint64_t received = 0, total = shared->items * shared->producers;
    void *entry;
    while (received < total) {
        if (ck_ring_dequeue_mpsc(&shared->ring, shared->buffer, &entry)) {
            shared->sum += (uint64_t)(uintptr_t)entry;
            received++;
        } else {
            back_off(&failures);
        }
    }
    return NULL;
}

static double run(struct shared *shared, void *(*producer)(void *), void *(*consumer)(void *), unsigned int size) {
    shared->buffer = calloc(size, sizeof(struct ck_ring_buffer));
    ck_ring_init(&shared->ring, size);
    pthread_t threads[16];
    double started = now_seconds();
    pthread_create(&threads[0], NULL, consumer, shared);
    for (unsigned int index = 0; index < shared->producers; index++) {
        pthread_create(&threads[1 + index], NULL, producer, shared);
    }
    for (unsigned int index = 0; index <= shared->producers; index++) pthread_join(threads[index], NULL);
    double elapsed = now_seconds() - started;
    free(shared->buffer);
    return elapsed;
}

double ck_ring_baseline_spsc(uint64_t items, unsigned int size) {
    struct shared shared = {.items = items, .producers = 1, .in_order = true};
    double elapsed = run(&shared, spsc_producer, spsc_consumer, size);
    return shared.in_order ? elapsed : -1;
}

double ck_ring_baseline_mpsc(uint64_t items_per_producer, unsigned int producers, unsigned int size) {
    if (producers < 1 || producers > 15) return -1;
    struct shared shared = {.items = items_per_producer, .producers = producers, .in_order = true};
    double elapsed = run(&shared, mpsc_producer, mpsc_consumer, size);
    uint64_t expected = producers * (items_per_producer * (items_per_producer + 1) / 2);
    return shared.sum == expected ? elapsed : -1;
}
