//! A model summary like Keras' `model.summary()`: each layer, its output shape and parameter
//! count, and the total.

use std::fmt;

use burn::module::Module;
use burn::tensor::backend::Backend;

/// Number of scalar parameters of a module.
pub fn param_count<B: Backend, M: Module<B>>(module: &M) -> usize {
    module.num_params()
}

/// One row of a [`Summary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// What the layer is.
    pub layer: String,
    /// Its output shape, `B` standing for the batch.
    pub output_shape: String,
    /// Its parameter count.
    pub params: usize,
}

/// The layers of a model in order; `Display` prints the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The model's name.
    pub model: String,
    /// The layers.
    pub rows: Vec<SummaryRow>,
}

impl Summary {
    /// An empty summary of `model`.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            rows: Vec::new(),
        }
    }

    /// Appends a layer.
    pub fn layer(
        &mut self,
        layer: impl Into<String>,
        output_shape: impl Into<String>,
        params: usize,
    ) {
        self.rows.push(SummaryRow {
            layer: layer.into(),
            output_shape: output_shape.into(),
            params,
        });
    }

    /// Total parameter count.
    pub fn total_params(&self) -> usize {
        self.rows.iter().map(|r| r.params).sum()
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w0 = self
            .rows
            .iter()
            .map(|r| r.layer.len())
            .max()
            .unwrap_or(0)
            .max("Layer".len());
        let w1 = self
            .rows
            .iter()
            .map(|r| r.output_shape.len())
            .max()
            .unwrap_or(0)
            .max("Output shape".len());
        let w2 = 12;
        let rule = "-".repeat(w0 + w1 + w2 + 4);
        writeln!(f, "Model: {}", self.model)?;
        writeln!(f, "{rule}")?;
        writeln!(
            f,
            "{:<w0$}  {:<w1$}  {:>w2$}",
            "Layer", "Output shape", "Params"
        )?;
        writeln!(f, "{}", "=".repeat(w0 + w1 + w2 + 4))?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<w0$}  {:<w1$}  {:>w2$}",
                r.layer,
                r.output_shape,
                thousands(r.params)
            )?;
        }
        writeln!(f, "{rule}")?;
        write!(f, "Total params: {}", thousands(self.total_params()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_total() {
        let mut s = Summary::new("M");
        s.layer("Recurrent (LSTM, 1 layer x 32)", "[B, 30, 32]", 4480);
        s.layer("Linear", "[B, 1]", 33);
        assert_eq!(s.total_params(), 4513);
        let text = s.to_string();
        assert!(text.contains("Total params: 4,513"), "{text}");
        assert!(text.contains("[B, 30, 32]"));
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
