#ifndef CK_RING_BASELINE_H
#define CK_RING_BASELINE_H
#include <stdint.h>

/// Moves `items` 8-byte values (1 ... items) from one producer thread to one consumer thread through a
/// Concurrency Kit `ck_ring` of `size` slots (a power of two) with `ck_ring_enqueue_spsc` /
/// `ck_ring_dequeue_spsc`, one item per call. Returns the elapsed seconds (threads started → joined), or a
/// negative value if an item arrived out of order.
double ck_ring_baseline_spsc(uint64_t items, unsigned int size);

/// The same with `producers` producer threads (`ck_ring_enqueue_mpsc`) and one consumer
/// (`ck_ring_dequeue_mpsc`); each producer sends `items_per_producer` values. Returns the elapsed seconds,
/// or a negative value if the consumer's sum disagrees.
double ck_ring_baseline_mpsc(uint64_t items_per_producer, unsigned int producers, unsigned int size);

#endif
