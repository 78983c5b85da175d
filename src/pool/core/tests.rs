//! Unit tests of the pool core: queue reservations and spare batch buffers.

use super::*;

fn core(max_queue: usize) -> Arc<PoolCore> {
    PoolCore::new(1, max_queue, "nodeperf-test").expect("one thread starts")
}

#[test]
fn reserve_many_grants_all_within_room() {
    let c = core(10);
    assert_eq!(c.reserve_many(4), 4);
    assert_eq!(c.snapshot_queued(), 4);
    assert_eq!(c.reserve_many(6), 6);
    assert_eq!(c.snapshot_queued(), 10);
}

#[test]
fn reserve_many_grants_part_at_max_queue_and_gives_the_rest_back() {
    let c = core(10);
    assert_eq!(c.reserve_many(7), 7);
    assert_eq!(c.reserve_many(5), 3);
    // Only the granted places stay counted.
    assert_eq!(c.snapshot_queued(), 10);
    assert_eq!(c.snapshot().rejected, 0, "reserving counts no rejection");
}

#[test]
fn reserve_many_grants_nothing_when_full() {
    let c = core(3);
    assert_eq!(c.reserve_many(3), 3);
    assert_eq!(c.reserve_many(1), 0);
    assert_eq!(c.reserve_many(5), 0);
    assert_eq!(c.snapshot_queued(), 3);
    let z = core(0);
    assert_eq!(z.reserve_many(2), 0);
    assert_eq!(z.snapshot_queued(), 0);
    assert_eq!(z.reserve_many(0), 0);
}

#[test]
fn reserve_many_with_an_unbounded_queue() {
    let c = core(usize::MAX);
    assert_eq!(c.reserve_many(5), 5);
    assert_eq!(c.reserve_many(usize::MAX - 5), usize::MAX - 5);
    assert_eq!(c.snapshot_queued(), usize::MAX);
    // The count wraps while the over-grant is taken back: restored.
    assert_eq!(c.reserve_many(2), 0);
    assert_eq!(c.snapshot_queued(), usize::MAX);
}

#[test]
fn reserve_counts_a_rejection_only_when_full() {
    let c = core(1);
    assert!(c.reserve(Op::Test).is_ok());
    assert_eq!(c.reserve(Op::Test), Err(Error::QueueFull { max_queue: 1 }));
    let s = c.snapshot();
    assert_eq!((s.queued, s.rejected), (1, 1));
}

#[test]
fn batch_buffers_keep_large_buffers_up_to_the_limit() {
    let b = BatchBuffers::default();
    b.recycle(Vec::with_capacity(SPARE_MIN - 1));
    assert_eq!(b.0.lock().len(), 0, "a lone task's buffer is not kept");
    for _ in 0..SPARE_BATCHES + 2 {
        b.recycle(Vec::with_capacity(SPARE_MIN));
    }
    assert_eq!(b.0.lock().len(), SPARE_BATCHES);
    let kept = b.0.lock().last().map(|v| v.as_ptr());
    let buffer = b.take(SPARE_MIN);
    assert_eq!(Some(buffer.as_ptr()), kept);
    assert!(buffer.is_empty() && buffer.capacity() >= SPARE_MIN);
    assert_eq!(b.0.lock().len(), SPARE_BATCHES - 1);
}
