//! What `state.json` holds: the run's state, its schema version, the
//! identities of its data, and the checksums that seal it.

use std::path::PathBuf;

use gradlab_autodiff::NoiseScale;
use gradlab_optim::{RdpAccountant, StateHeader};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::trainer::DataIdentity;
use crate::{TrainConfig, Trainer};

/// The version of `state.json` this code writes and reads.
pub const STATE_VERSION: u32 = 3;

/// The contents of `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunState {
    pub(super) format: String,
    pub(super) version: u32,
    /// The run's definition; `epochs` is where it stops, which a resume may
    /// move.
    pub(crate) config: TrainConfig,
    /// The model's name ([`Model::name`](gradlab_layers::Model::name)).
    pub(crate) model: String,
    /// The per-feature mean and standard deviation the data is standardized
    /// by, when the config asks for it: what a user of the saved model must
    /// apply to its inputs.
    pub(crate) standardization: Option<(Vec<f32>, Vec<f32>)>,
    /// T, the length of the learning-rate schedule, fixed when the run
    /// started.
    pub(crate) schedule_steps: u64,
    /// Where the data was loaded from, if the caller said.
    pub(crate) data_source: Option<String>,
    pub(crate) train_data: DataIdentity,
    pub(crate) test_data: DataIdentity,
    pub(crate) steps_done: u64,
    /// The current epoch's sum of batch losses so far.
    pub(crate) epoch_loss_sum: f64,
    /// The current epoch's gradient-noise sums (tr Σ, |G|²) so far, if the
    /// run computes them.
    pub(crate) epoch_noise: Option<(f64, f64)>,
    /// For a private run: every step's (σ, q), so a resumed run continues
    /// the accounting exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) accountant: Option<RdpAccountant>,
    pub(super) optimizer: StateHeader,
    pub(super) model_checksum: String,
    pub(super) optimizer_checksum: String,
    /// SHA-256 of everything above, as compact JSON with this field empty.
    pub(super) checksum: String,
}

impl RunState {
    pub(super) fn sealed(mut self) -> RunState {
        self.checksum = self.digest();
        self
    }

    pub(super) fn digest(&self) -> String {
        let body = RunState {
            checksum: String::new(),
            ..self.clone()
        };
        let json = serde_json::to_vec(&body).expect("a run state serializes");
        hex(&Sha256::digest(json))
    }

    /// Whether `other` is a state of the same run: the same settings (the
    /// epochs to train aside), schedule and data.
    pub(super) fn same_run(&self, other: &RunState) -> bool {
        let settings = |s: &RunState| TrainConfig {
            epochs: 0,
            ..s.config.clone()
        };
        settings(self) == settings(other)
            && self.model == other.model
            && self.standardization == other.standardization
            && self.schedule_steps == other.schedule_steps
            && self.train_data == other.train_data
            && self.test_data == other.test_data
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The standardization of `trainer`'s data, as a run state records it.
pub(super) fn standardization(trainer: &Trainer) -> Option<(Vec<f32>, Vec<f32>)> {
    let s = trainer.train_set().standardized()?;
    Some((s.mean.clone(), s.std.clone()))
}

/// The checksum a gradlab tensor file carries in its metadata: written by
/// [`encode_tensors`], checked against the data when the file is read.
///
/// [`encode_tensors`]: gradlab_layers::encode_tensors
pub(super) fn checksum_of(file: &[u8]) -> String {
    let (_, header) = safetensors::SafeTensors::read_metadata(file)
        .expect("encode_tensors writes a valid safetensors file");
    header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("checksum").cloned())
        .expect("encode_tensors writes a checksum")
}

impl Trainer {
    /// The run state of this trainer, without the optimizer's header and
    /// the tensor files' checksums (filled in when saving).
    pub(crate) fn run_state_body(&self) -> RunState {
        let (train_data, test_data) = self.data_identities().clone();
        RunState {
            format: "gradlab-run".into(),
            version: STATE_VERSION,
            config: self.config.clone(),
            model: self.model.name.clone(),
            standardization: standardization(self),
            schedule_steps: self.schedule_steps,
            data_source: self
                .data_source
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            train_data,
            test_data,
            steps_done: self.steps_done(),
            epoch_loss_sum: self.epoch_loss_sum,
            epoch_noise: self.epoch_noise.map(|n| (n.trace_sigma, n.grad_norm_sq)),
            accountant: self.accountant().cloned(),
            optimizer: StateHeader {
                spec: String::new(),
                steps: 0,
                global: Vec::new(),
                params: Vec::new(),
            },
            model_checksum: String::new(),
            optimizer_checksum: String::new(),
            checksum: String::new(),
        }
    }

    /// The identities of the training and test data, computed once.
    pub(crate) fn data_identities(&self) -> &(DataIdentity, DataIdentity) {
        self.data_ids
            .get_or_init(|| (DataIdentity::of(&self.train), DataIdentity::of(&self.test)))
    }

    /// Continues from a saved state's progress.
    pub(super) fn restore_progress(&mut self, s: &RunState) {
        self.steps_done = s.steps_done;
        self.data_source = s.data_source.as_deref().map(PathBuf::from);
        self.epoch_loss_sum = s.epoch_loss_sum;
        self.epoch_noise = s.epoch_noise.map(|(trace_sigma, grad_norm_sq)| NoiseScale {
            trace_sigma,
            grad_norm_sq,
        });
        let ids = (s.train_data.clone(), s.test_data.clone());
        let _ = self.data_ids.set(ids);
        if let (Some(p), Some(a)) = (&mut self.private, &s.accountant) {
            p.accountant = a.clone();
        }
    }
}
