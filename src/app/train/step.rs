//! One training step's forward and backward: on one device, or data-parallel, a replica per
//! device on its share of the batch's rows with the gradients summed on the first device.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use crate::data::Batch;
use crate::layer::RecurrentState;
use crate::model::{CharLm, ids_tensor};

/// What a step's forward and backward give: the batch loss (detached), the state after the
/// batch, and the gradients, all on the first device.
pub(super) type StepOutput<B> = (
    Tensor<<B as AutodiffBackend>::InnerBackend, 1>,
    RecurrentState<B>,
    GradientsParams,
);

/// Forward and backward of `model` on batch `b` from `state`, on `devices` (one, or a replica
/// per device). `sequential_forward` runs the replicas' forwards in share order (dropout draws
/// its masks from Burn's process-wide generator, so that keeps them reproducible).
pub(super) fn forward_backward<B: AutodiffBackend>(
    model: &CharLm<B>,
    b: &Batch,
    state: Option<RecurrentState<B>>,
    devices: &[B::Device],
    sequential_forward: bool,
) -> StepOutput<B> {
    if devices.len() == 1 {
        let device = &devices[0];
        let (logits, next) = model.forward(ids_tensor(&b.inputs, b.batch, b.seq, device), state);
        let loss = model.loss(logits, ids_tensor(&b.targets, b.batch, b.seq, device));
        let grads = GradientsParams::from_grads(loss.backward(), model);
        return (loss.inner(), next, grads);
    }
    data_parallel(model, b, state, devices, sequential_forward)
}

/// Rows `(start, len)` of a batch of `batch` rows for each of `n` devices, as even as can be.
pub fn batch_shares(batch: usize, n: usize) -> Vec<(usize, usize)> {
    let (base, extra) = (batch / n, batch % n);
    let mut start = 0;
    (0..n)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let share = (start, len);
            start += len;
            share
        })
        .collect()
}

/// The data-parallel step: forward and backward of a replica per device on its rows, in
/// parallel threads; the batch loss, the next state (rows in order) and the summed gradients,
/// all on `devices[0]`.
fn data_parallel<B: AutodiffBackend>(
    model: &CharLm<B>,
    b: &Batch,
    state: Option<RecurrentState<B>>,
    devices: &[B::Device],
    sequential_forward: bool,
) -> StepOutput<B> {
    let main = &devices[0];
    let (batch, seq) = (b.batch, b.seq);
    let shares = batch_shares(batch, devices.len());
    // Forward of one share: the replica, its loss (the share's mean, weighted by its share of
    // the rows, so that the sum over devices is the batch mean, and so are the summed
    // gradients) and its next state.
    let forward = |(start, rows): (usize, usize), device: &B::Device| {
        let replica = model.clone().fork(device);
        let state = state
            .as_ref()
            .map(|s| s.rows(start, rows).to_device(device));
        let inputs = &b.inputs[start * seq..(start + rows) * seq];
        let targets = &b.targets[start * seq..(start + rows) * seq];
        let (logits, next) = replica.forward(ids_tensor(inputs, rows, seq, device), state);
        let loss = replica
            .loss(logits, ids_tensor(targets, rows, seq, device))
            .mul_scalar(rows as f64 / batch as f64);
        (replica, loss, next)
    };
    let backward = |(replica, loss, next): (CharLm<B>, Tensor<B, 1>, RecurrentState<B>)| {
        let grads = GradientsParams::from_grads(loss.backward(), &replica);
        (loss.inner(), next.detach(), grads)
    };
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = if sequential_forward {
            // Forwards in share order (reproducible masks, exact resume); backwards in parallel.
            let forwards: Vec<_> = shares
                .iter()
                .zip(devices)
                .map(|(&share, device)| forward(share, device))
                .collect();
            forwards
                .into_iter()
                .map(|f| scope.spawn(move || backward(f)))
                .collect()
        } else {
            shares
                .iter()
                .zip(devices)
                .map(|(&share, device)| scope.spawn(move || backward(forward(share, device))))
                .collect()
        };
        handles
            .into_iter()
            .map(|h| h.join().expect("a data-parallel replica panicked"))
            .collect()
    });
    let mut accumulator = GradientsAccumulator::<CharLm<B>>::new();
    let mut loss: Option<Tensor<B::InnerBackend, 1>> = None;
    let mut states = Vec::with_capacity(results.len());
    for (l, next, grads) in results {
        accumulator.accumulate::<B>(model, grads.to_device::<B, _>(main, model));
        let l = l.to_device(main);
        loss = Some(match loss {
            Some(t) => t + l,
            None => l,
        });
        states.push(next);
    }
    (
        loss.expect("at least one device"),
        RecurrentState::cat_rows(states, main),
        accumulator.grads(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_batch_in_order() {
        assert_eq!(batch_shares(8, 2), vec![(0, 4), (4, 4)]);
        assert_eq!(batch_shares(8, 3), vec![(0, 3), (3, 3), (6, 2)]);
        assert_eq!(batch_shares(5, 1), vec![(0, 5)]);
        for (batch, n) in [(7, 7), (13, 4), (50, 3)] {
            let shares = batch_shares(batch, n);
            assert_eq!(shares.iter().map(|s| s.1).sum::<usize>(), batch);
            assert!(shares.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
            let (min, max) = (
                shares.iter().map(|s| s.1).min(),
                shares.iter().map(|s| s.1).max(),
            );
            assert!(max.unwrap() - min.unwrap() <= 1);
        }
    }
}
