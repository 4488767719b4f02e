//! Finite-difference gradient checks in f64: the autodiff gradient of every weight, bias and the
//! input of each cell (tanh and relu RNN, LSTM, GRU) equals central differences.

mod common;

use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, Param};
use burn::tensor::{Distribution, Tensor, TensorData};
use burn_rnn::{Activation, CellKind, Recurrent, RecurrentCell, RecurrentConfig};
use common::{rel_error, values};

type B = Autodiff<NdArray<f64>>;

const EPS: f64 = 1e-6;

/// Burn's random generator is one for the process: each test holds this lock while it draws its
/// weights and inputs from a fixed seed, so that every run checks the same numbers (a ReLU
/// pre-activation drawn within `EPS` of 0 would make the central differences wrong).
static RANDOM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seeded(seed: u64) -> std::sync::MutexGuard<'static, ()> {
    let guard = RANDOM.lock().unwrap_or_else(|e| e.into_inner());
    <B as burn::tensor::backend::Backend>::seed(&Default::default(), seed);
    guard
}

struct Probe {
    x: Tensor<B, 3>,
    r_out: Tensor<B, 3>,
    r_h: Tensor<B, 3>,
}

fn loss(layer: &Recurrent<B>, probe: &Probe, x: Tensor<B, 3>) -> Tensor<B, 1> {
    let (out, state) = layer.forward(x, None);
    let mut loss = (out * probe.r_out.clone()).sum() + (state.hidden() * probe.r_h.clone()).sum();
    if let Some(c) = state.cell() {
        // Weight c_n differently from h_n so both paths count.
        loss = loss + (c * probe.r_h.clone().mul_scalar(0.7)).sum();
    }
    loss
}

fn scalar(t: Tensor<B, 1>) -> f64 {
    values(t)[0]
}

/// Central differences of `f` around `base`, one coordinate at a time.
fn numeric_grad(base: &[f64], mut f: impl FnMut(Vec<f64>) -> f64) -> Vec<f64> {
    (0..base.len())
        .map(|i| {
            let mut plus = base.to_vec();
            plus[i] += EPS;
            let mut minus = base.to_vec();
            minus[i] -= EPS;
            (f(plus) - f(minus)) / (2.0 * EPS)
        })
        .collect()
}

fn set<const D: usize>(param: &mut Param<Tensor<B, D>>, values: Vec<f64>) {
    let shape = param.shape();
    *param = Param::from_tensor(Tensor::from_data(
        TensorData::new(values, shape),
        &Default::default(),
    ));
}

fn check(config: RecurrentConfig) {
    check_path(config.clone().with_fused(true));
    check_path(config.with_fused(false));
}

fn check_path(config: RecurrentConfig) {
    let device = Default::default();
    let layer = config.init::<B>(&device);
    let dirs = config.directions();
    let probe = Probe {
        x: Tensor::random(
            [2, 4, config.input_size],
            Distribution::Normal(0.0, 1.0),
            &device,
        ),
        r_out: Tensor::random(
            [2, 4, dirs * config.hidden_size],
            Distribution::Normal(0.0, 1.0),
            &device,
        ),
        r_h: Tensor::random(
            [config.num_layers * dirs, 2, config.hidden_size],
            Distribution::Normal(0.0, 1.0),
            &device,
        ),
    };
    let x = probe.x.clone().require_grad();
    let grads = loss(&layer, &probe, x.clone()).backward();
    let name = format!(
        "{:?} {:?} fused={}",
        config.kind, config.activation, config.fused
    );

    // The input.
    let analytic = values(x.grad(&grads).unwrap());
    let numeric = numeric_grad(&values(probe.x.clone()), |v| {
        let x = Tensor::from_data(TensorData::new(v, probe.x.shape()), &device);
        scalar(loss(&layer, &probe, x))
    });
    let err = rel_error(&analytic, &numeric);
    assert!(err < 1e-6, "{name} input: relative error {err:.2e}");

    // Every weight and bias of every cell.
    for cell in 0..layer.cells.len() {
        for which in 0..4 {
            let w = layer.cells[cell].weights();
            let (analytic, base) = match which {
                0 => (w.weight_ih.val().grad(&grads), values(w.weight_ih.val())),
                1 => (w.weight_hh.val().grad(&grads), values(w.weight_hh.val())),
                _ => {
                    let b = if which == 2 { &w.bias_ih } else { &w.bias_hh };
                    let b = b.as_ref().expect("bias").val();
                    let g = b.grad(&grads).map(|g| g.unsqueeze_dim::<2>(0));
                    (g, values(b))
                }
            };
            let analytic = values(analytic.expect("gradient"));
            let numeric = numeric_grad(&base, |v| {
                let mut l = layer.clone();
                let w = l.cells[cell].weights_mut();
                match which {
                    0 => set(&mut w.weight_ih, v),
                    1 => set(&mut w.weight_hh, v),
                    2 => set(w.bias_ih.as_mut().unwrap(), v),
                    _ => set(w.bias_hh.as_mut().unwrap(), v),
                }
                scalar(loss(&l, &probe, probe.x.clone()))
            });
            let err = rel_error(&analytic, &numeric);
            assert!(
                err < 1e-6,
                "{name} cell {cell} parameter {which}: relative error {err:.2e}"
            );
        }
    }
}

#[test]
fn gradcheck_rnn_tanh() {
    let _random = seeded(1);
    check(
        RecurrentConfig::new(CellKind::Rnn, 3, 4)
            .with_num_layers(2)
            .with_bidirectional(true),
    );
}

#[test]
fn gradcheck_rnn_relu() {
    let _random = seeded(2);
    check(
        RecurrentConfig::new(CellKind::Rnn, 3, 4)
            .with_num_layers(2)
            .with_activation(Activation::Relu),
    );
}

#[test]
fn gradcheck_lstm() {
    let _random = seeded(3);
    check(
        RecurrentConfig::new(CellKind::Lstm, 3, 4)
            .with_num_layers(2)
            .with_bidirectional(true),
    );
}

#[test]
fn gradcheck_gru() {
    let _random = seeded(4);
    check(
        RecurrentConfig::new(CellKind::Gru, 3, 4)
            .with_num_layers(2)
            .with_bidirectional(true),
    );
}

/// `forward_lookup` (the first layer's input projection computed per table row, then gathered)
/// gives the outputs, final state and gradients (table and every weight) of the lookup followed
/// by `forward`, for each cell and two layers.
#[test]
fn forward_lookup_equals_lookup_then_forward() {
    let _random = seeded(5);
    use burn::tensor::Int;
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for fused in [true, false] {
            let device = Default::default();
            let layer: Recurrent<B> = RecurrentConfig::new(kind, 5, 7)
                .with_num_layers(2)
                .with_fused(fused)
                .init(&device);
            let table: Tensor<B, 2> =
                Tensor::random([11, 5], Distribution::Normal(0.0, 1.0), &device).require_grad();
            let ids = Tensor::<B, 2, Int>::from_data(
                TensorData::new((0..24).map(|i| (i * 7 % 11) as i64).collect(), [4, 6]),
                &device,
            );
            let r = Tensor::<B, 3>::random([4, 6, 7], Distribution::Normal(0.0, 1.0), &device);
            let run = |lookup: bool| {
                let (out, state) = if lookup {
                    layer.forward_lookup(table.clone(), ids.clone(), None)
                } else {
                    let x = table.clone().select(0, ids.clone().reshape([24]));
                    layer.forward(x.reshape([4, 6, 5]), None)
                };
                let loss = (out.clone() * r.clone()).sum() + state.hidden().sum().mul_scalar(0.3);
                let grads = loss.backward();
                let mut g = values(table.grad(&grads).unwrap());
                for cell in &layer.cells {
                    let w = cell.weights();
                    g.extend(values(w.weight_ih.grad(&grads).unwrap()));
                    g.extend(values(w.weight_hh.grad(&grads).unwrap()));
                    g.extend(values(w.bias_ih.as_ref().unwrap().grad(&grads).unwrap()));
                }
                (values(out), g)
            };
            let (out_a, grad_a) = run(true);
            let (out_b, grad_b) = run(false);
            let what = format!("{kind:?}, fused {fused}");
            assert!(rel_error(&out_a, &out_b) < 1e-12, "{what}: outputs");
            assert!(rel_error(&grad_a, &grad_b) < 1e-12, "{what}: gradients");
        }
    }
}

/// The character model's whole training loss (row lookup, input projections, recurrence, head,
/// softmax cross-entropy, each one host operation on this backend): its value equals the
/// cross-entropy computed here from the logits, and the gradients of the embedding, the head
/// and a recurrent weight equal central differences.
#[test]
fn char_lm_loss_gradcheck() {
    let _random = seeded(6);
    use burn::tensor::Int;
    use burn_rnn::model::CharLmConfig;
    let device = Default::default();
    let (vocab, batch, seq) = (6, 2, 5);
    for kind in [CellKind::Lstm, CellKind::Gru] {
        let mut model = CharLmConfig::new(
            vocab,
            3,
            RecurrentConfig::new(kind, 3, 4).with_num_layers(2),
        )
        .init::<B>(&device);
        let ids =
            |v: Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [batch, seq]), &device);
        let inputs: Vec<i64> = (0..10).map(|i| (i * 5 % 6) as i64).collect();
        let targets: Vec<i64> = (0..10).map(|i| (i * 7 % 6) as i64).collect();
        let loss_of = |m: &burn_rnn::model::CharLm<B>| {
            let (logits, _) = m.forward(ids(inputs.clone()), None);
            (m.loss(logits.clone(), ids(targets.clone())), logits)
        };
        let (loss, logits) = loss_of(&model);
        // The value: mean of logsumexp - picked logit, computed in plain f64.
        let l = values(logits);
        let expected = l
            .chunks(vocab)
            .zip(&targets)
            .map(|(row, &t)| {
                let m = row.iter().cloned().fold(f64::MIN, f64::max);
                m + row.iter().map(|x| (x - m).exp()).sum::<f64>().ln() - row[t as usize]
            })
            .sum::<f64>()
            / targets.len() as f64;
        assert!(
            (scalar(loss.clone()) - expected).abs() < 1e-12,
            "{kind:?}: loss value"
        );
        let grads = loss.backward();
        let emb = values(model.embedding.weight.grad(&grads).unwrap());
        let head_w = values(model.head.weight.grad(&grads).unwrap());
        let head_b = values(model.head.bias.as_ref().unwrap().grad(&grads).unwrap());
        let w_hh = values(model.rnn.cells[1].weights().weight_hh.grad(&grads).unwrap());

        let base = values(model.embedding.weight.val());
        let numeric = numeric_grad(&base, |v| {
            set(&mut model.embedding.weight, v);
            scalar(loss_of(&model).0)
        });
        set(&mut model.embedding.weight, base);
        assert!(rel_error(&emb, &numeric) < 1e-6, "{kind:?}: embedding");

        let base = values(model.head.weight.val());
        let numeric = numeric_grad(&base, |v| {
            set(&mut model.head.weight, v);
            scalar(loss_of(&model).0)
        });
        set(&mut model.head.weight, base);
        assert!(rel_error(&head_w, &numeric) < 1e-6, "{kind:?}: head weight");

        let base = values(model.head.bias.as_ref().unwrap().val());
        let numeric = numeric_grad(&base, |v| {
            set(model.head.bias.as_mut().unwrap(), v);
            scalar(loss_of(&model).0)
        });
        set(model.head.bias.as_mut().unwrap(), base);
        assert!(rel_error(&head_b, &numeric) < 1e-6, "{kind:?}: head bias");

        let base = values(model.rnn.cells[1].weights().weight_hh.val());
        let numeric = numeric_grad(&base, |v| {
            set(&mut model.rnn.cells[1].weights_mut().weight_hh, v);
            scalar(loss_of(&model).0)
        });
        assert!(rel_error(&w_hh, &numeric) < 1e-6, "{kind:?}: layer 2 W_hh");
    }
}

/// A loss of the final states alone (the output unused, as an encoder feeding a decoder): the
/// host operation's gradients equal those of Burn's autodiff running the cells step by step.
#[test]
fn final_state_only_loss_matches_the_generic_path() {
    let _random = seeded(7);
    let device = Default::default();
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let x = Tensor::<B, 3>::random([3, 4, 2], Distribution::Normal(0.0, 1.0), &device);
        let r = Tensor::<B, 3>::random([2, 3, 5], Distribution::Normal(0.0, 1.0), &device);
        let config = RecurrentConfig::new(kind, 2, 5).with_num_layers(2);
        let fused: Recurrent<B> = config.clone().with_fused(true).init(&device);
        let generic: Recurrent<B> = config
            .with_fused(false)
            .init(&device)
            .load_record(fused.clone().into_record());
        let grads_of = |layer: &Recurrent<B>| {
            let (_, state) = layer.forward(x.clone(), None);
            let mut loss = (state.hidden() * r.clone()).sum();
            if let Some(c) = state.cell() {
                loss = (c * r.clone()).sum().mul_scalar(0.5) + loss;
            }
            let grads = loss.backward();
            let mut g = Vec::new();
            for cell in &layer.cells {
                g.extend(values(cell.weights().weight_hh.grad(&grads).unwrap()));
                g.extend(values(cell.weights().weight_ih.grad(&grads).unwrap()));
            }
            g
        };
        let (a, b) = (grads_of(&fused), grads_of(&generic));
        assert!(rel_error(&a, &b) < 1e-12, "{kind:?}: {}", rel_error(&a, &b));
    }
}
